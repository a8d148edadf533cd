"""Typed settings and their plain form (a rule's params, hence a job's identity)."""

from dataclasses import dataclass

import pytest

from e2e_mammo.plan.schedules import Stage
from e2e_mammo.plan.settings import FitSettings, flat, from_params, to_params


@dataclass(frozen=True)
class Inner:
    arch: str
    image_size: tuple[int, int]


@dataclass(frozen=True)
class Outer:
    init: str
    inner: Inner = flat()
    schedule: tuple[Stage, ...] = ()
    extension: dict | None = None


STAGE = Stage(name="s", epochs=2, lr=1e-4, trainable="head", weight_decay=0.1)
OUTER = Outer("none", Inner("resnet50", (64, 48)), (STAGE,), None)


def test_the_plain_form_is_plain_types_in_field_order_with_flat_fields_spliced_in() -> None:
    assert to_params(OUTER) == {
        "init": "none",
        "arch": "resnet50",
        "image_size": [64, 48],
        "schedule": [
            {"name": "s", "trainable": "head", "lr": 1e-4, "epochs": 2, "weight_decay": 0.1}
        ],
        "extension": None,
    }
    assert list(to_params(OUTER)) == ["init", "arch", "image_size", "schedule", "extension"]


def test_the_plain_form_reads_back_to_the_same_settings() -> None:
    assert from_params(Outer, to_params(OUTER)) == OUTER


def test_a_missing_setting_is_named() -> None:
    plain = to_params(OUTER)
    del plain["arch"]
    with pytest.raises(KeyError, match="arch"):
        from_params(Outer, plain)


def test_a_setting_with_a_default_may_be_absent() -> None:
    plain = {"init": "none", "arch": "vgg16", "image_size": [8, 8]}
    assert from_params(Outer, plain) == Outer("none", Inner("vgg16", (8, 8)))


def test_fit_settings_default_to_a_plain_run() -> None:
    fit = FitSettings(schedule=(STAGE,), seed=1, monitor="last", augment={})
    assert (fit.accumulate, fit.decay, fit.fixed_bn, fit.extension) == (1, "all", False, None)
