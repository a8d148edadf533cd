"""Which Table 2/3 rows run, on which patch classifier, and the record of a row that does not.

* The patch classifier under a row is the Table 1 row of the same architecture and patch set:
  the ImageNet-pretrained one (the paper's) when it trained here, else the random-init one
  (the demo, which has no ImageNet weights; the tables say so).
* ``whole_image.rows`` lists the rows that train (the demo's choice) or is ``all`` (the paper
  profile). Any other row is listed in its table as ``not in demo`` with the switch that runs
  it; a row whose patch classifier did not train is ``not run`` with the reason.
* :class:`WholeRowSettings` (:func:`whole_training_settings`) is exactly what changes a row's
  result (the job is :mod:`e2e_mammo.training.whole_stage`'s), :class:`TwoStepSettings` the
  two-step baseline's; they are here, torch-free, for the workflow's parse.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from e2e_mammo.plan.patch_rows import not_in_demo_reason
from e2e_mammo.plan.schedules import Stage, scale_schedule
from e2e_mammo.plan.settings import FitSettings, flat
from e2e_mammo.plan.tops import describe_top, paper_family

log = logging.getLogger(__name__)
#: The one switch that trains every row (docs/parameters.md, "The paper profile").
PAPER_SWITCH = "snakemake all --profile profiles/paper (or whole_image.rows: all)"


@dataclass(frozen=True)
class PatchChoice:
    """The Table 1 row a whole-image row builds on, and how Tables 2/3 describe it."""

    row: str | None
    label: str  # how it was initialised, e.g. "random init; paper: ImageNet"
    reason: str = ""  # why there is none


def choose_patch_row(
    table1: Iterable[Mapping[str, Any]], trained: Sequence[str], arch: str, patch_set: str
) -> PatchChoice:
    """The trained Table 1 row of ``arch`` and ``patch_set``, ImageNet-pretrained first."""
    rows = [r for r in table1 if r["arch"] == arch and r["patch_set"] == patch_set]
    ready = [r for r in rows if r["row"] in trained]
    ready.sort(key=lambda r: r["pretrained"] != "imagenet")
    if not ready:
        names = [r["row"] for r in rows] or [f"{arch} {patch_set} (none configured in table1)"]
        return PatchChoice(None, "", f"no trained patch classifier among {names}")
    row = ready[0]
    if row["pretrained"] == "imagenet":
        return PatchChoice(row["row"], "ImageNet-pretrained, as the paper")
    return PatchChoice(row["row"], "random init; paper: ImageNet")


def check_row_names(config: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` when ``whole_image.rows``, ``figures.fig2_rows``,
    ``figures.heatmap_row`` or ``transfer.models`` (a list) name a row that is in neither
    ``table2`` nor ``table3``, naming the key, the unknown names and the valid ones."""
    valid = [r["row"] for r in (*config["table2"], *config["table3"])]
    named = {
        "whole_image.rows": config["whole_image"]["rows"],
        "figures.fig2_rows": config["figures"]["fig2_rows"],
        "figures.heatmap_row": [config["figures"]["heatmap_row"]],
        "transfer.models": config["transfer"]["models"],
    }
    for key, names in named.items():
        if names in ("all", "ensemble"):
            continue
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise ValueError(
                f"{key} names rows that are in neither table2 nor table3: {unknown} "
                f"(the rows: {', '.join(valid)})"
            )


def row_status(row: Mapping[str, Any], selected: Sequence[str] | str, choice: PatchChoice) -> str:
    """``ok`` (trains), ``not in demo`` or ``not run`` (no patch classifier)."""
    if selected != "all" and row["row"] not in selected:
        return "not in demo"
    return "ok" if choice.row is not None else "not run"


def row_meta(row: Mapping[str, Any], table: int, choice: PatchChoice) -> dict[str, Any]:
    """The descriptive fields of a row's ``result.json`` (never part of its training)."""
    top = row["top"]
    cells = {} if top["type"] == "two_step" else describe_top(top)
    return {
        "table": table,
        "section": row_section(top),
        "top": dict(top),
        "family": paper_family(row["arch"], top),
        "cells": cells,
        "patch_model": choice.row,
        "patch_init": choice.label,
    }


def not_run_reason(status: str, choice: PatchChoice) -> str:
    """What Tables 2/3 say of a row that did not train."""
    if status == "not in demo":
        return not_in_demo_reason(PAPER_SWITCH)
    return choice.reason


def row_section(top: Mapping[str, Any]) -> str:
    """The part of Table 2/3 a row belongs to: ``blocks``, ``heatmap``, ``fc``, ``two_step``."""
    if top["type"] in ("fc", "two_step"):
        return str(top["type"])
    return "heatmap" if top.get("heatmap") else "blocks"


@dataclass(frozen=True)
class NetworkSettings:
    """The network of a Table 2/3 row (what ``build_from_patch_model`` builds): its patch
    classifier (``arch``, ``patch_set``, the Table 1 ``patch_row``), its new ``top`` layers
    (``params.yaml``'s form), the image and patch sizes and the heatmap activation."""

    arch: str
    patch_set: str
    patch_row: str
    top: Mapping[str, Any]
    image_size: tuple[int, int]
    patch_size: int
    heatmap_activation: str


def network_settings(
    row: Mapping[str, Any],
    whole: Mapping[str, Any],
    patch_row: str,
    image_size: Sequence[int],
    patch_size: int,
) -> NetworkSettings:
    """The network of a Table 2/3 row on the patch classifier of Table 1 row ``patch_row``."""
    return NetworkSettings(
        arch=row["arch"],
        patch_set=row["patch_set"],
        patch_row=patch_row,
        top=dict(row["top"]),
        image_size=(int(image_size[0]), int(image_size[1])),
        patch_size=int(patch_size),
        heatmap_activation=whole["heatmap_activation"],
    )


@dataclass(frozen=True)
class WholeRowSettings:
    """Everything that changes one Table 2/3 row's result, and nothing else: its network, the
    staged schedule and its ``extension``, batch size and gradient accumulation, which weights
    decay, the patch layers' batch-norm handling (``patch_bn``), seed, the epoch it keeps
    (``monitor``), augmentation and the bootstrap of its intervals."""

    network: NetworkSettings = flat()
    schedule: tuple[Stage, ...]
    extension: Mapping[str, Any] | None
    batch_size: int
    accumulate: int
    decay: str
    patch_bn: str
    seed: int
    monitor: str
    augment: Mapping[str, Any]
    bootstrap: Mapping[str, Any]

    @property
    def fit(self) -> FitSettings:
        """How the row trains."""
        return FitSettings(
            schedule=self.schedule,
            seed=self.seed,
            monitor=self.monitor,
            augment=self.augment,
            accumulate=self.accumulate,
            decay=self.decay,
            fixed_bn=self.patch_bn == "fixed",
            extension=self.extension,
        )


def whole_training_settings(
    row: Mapping[str, Any],
    whole: Mapping[str, Any],
    augment: Mapping[str, Any],
    network: NetworkSettings,
) -> WholeRowSettings:
    """Everything that changes one row's result, and nothing else.

    ``whole`` is params.yaml's ``whole_image`` block, ``augment`` the patch stage's (the paper
    uses the same augmentation for both), ``network`` the row's network
    (:func:`network_settings`).
    """
    return WholeRowSettings(
        network=network,
        schedule=tuple(scale_schedule(whole["schedule"], whole["epoch_scale"])),
        extension=dict(whole["extension"]) if whole.get("extension") else None,
        batch_size=int(whole["batch_size"]),
        accumulate=int(whole["accumulate"]),
        decay=whole["decay"],
        patch_bn=whole["patch_bn"],
        seed=int(whole["seed"]),
        monitor=whole["monitor"],
        augment=dict(augment),
        bootstrap=dict(whole["bootstrap"]),
    )


@dataclass(frozen=True)
class TwoStepSettings:
    """Everything that changes the two-step baseline's result (Table 2): the heatmap's region
    ``cutoffs``, the random forest's size and seed, the patch classifier under it, the image
    and patch sizes and the bootstrap of its intervals."""

    cutoffs: tuple[float, ...]
    n_estimators: int
    max_depth: int | None
    min_samples_split: int
    seed: int
    arch: str
    patch_set: str
    patch_row: str
    image_size: tuple[int, int]
    patch_size: int
    bootstrap: Mapping[str, Any]


def two_step_settings(
    two_step: Mapping[str, Any], network: NetworkSettings, bootstrap: Mapping[str, Any]
) -> TwoStepSettings:
    """The two-step row's settings: params.yaml's ``two_step`` block on the row's patch
    classifier (``network``; its top is the forest, so only the patch classifier counts)."""
    return TwoStepSettings(
        cutoffs=tuple(two_step["cutoffs"]),
        n_estimators=two_step["n_estimators"],
        max_depth=two_step["max_depth"],
        min_samples_split=two_step["min_samples_split"],
        seed=two_step["seed"],
        arch=network.arch,
        patch_set=network.patch_set,
        patch_row=network.patch_row,
        image_size=network.image_size,
        patch_size=network.patch_size,
        bootstrap=dict(bootstrap),
    )
