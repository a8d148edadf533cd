"""Training schedules as data: a :class:`Stage` (name, epochs, learning rate, what trains,
weight decay), read from and written to ``params.yaml``'s plain form, scaled by an epoch factor.

Torch-free: the workflow's parse builds every row's schedule; applying a stage to a model is
:mod:`e2e_mammo.training.staged`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

TRAINABLE_CHOICES = ("head", "top", "all")


@dataclass(frozen=True)
class Stage:
    """One stage of a staged schedule."""

    name: str
    epochs: int
    lr: float
    trainable: str
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.trainable not in TRAINABLE_CHOICES:
            raise ValueError(
                f"stage {self.name!r}: trainable must be one of {TRAINABLE_CHOICES}, "
                f"got {self.trainable!r}"
            )
        if int(self.epochs) != self.epochs or self.epochs < 0:
            raise ValueError(f"stage {self.name!r}: epochs must be an integer >= 0")
        if not self.lr > 0:
            raise ValueError(f"stage {self.name!r}: lr must be > 0")
        if self.weight_decay < 0:
            raise ValueError(f"stage {self.name!r}: weight_decay must be >= 0")


def schedule_from_config(stages: Iterable[Mapping]) -> list[Stage]:
    """``[{name, epochs, lr, trainable, weight_decay?}, ...]`` (as in params.yaml) -> stages."""
    out = []
    for i, cfg in enumerate(stages):
        cfg = dict(cfg)
        cfg.setdefault("name", f"stage{i + 1}")
        unknown = set(cfg) - {"name", "epochs", "lr", "trainable", "weight_decay"}
        if unknown:
            raise ValueError(f"stage {i + 1}: unknown keys {sorted(unknown)}")
        out.append(
            Stage(
                name=str(cfg["name"]),
                epochs=int(cfg["epochs"]),
                lr=float(cfg["lr"]),
                trainable=str(cfg["trainable"]),
                weight_decay=float(cfg.get("weight_decay", 0.0)),
            )
        )
    if not out:
        raise ValueError("a schedule needs at least one stage")
    return out


def schedule_to_config(schedule: Iterable[Stage]) -> list[dict]:
    """Stages -> plain dicts (the inverse of :func:`schedule_from_config`; part of job settings)."""
    return [
        {
            "name": s.name,
            "trainable": s.trainable,
            "lr": s.lr,
            "epochs": s.epochs,
            "weight_decay": s.weight_decay,
        }
        for s in schedule
    ]


def total_epochs(schedule: Sequence[Stage]) -> int:
    """Sum of the stages' epochs."""
    return sum(s.epochs for s in schedule)


def stage_for_epoch(schedule: Sequence[Stage], epoch: int) -> tuple[int, Stage]:
    """(index, stage) of the 0-based ``epoch`` over the concatenated stages."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    end = 0
    for i, stage in enumerate(schedule):
        end += stage.epochs
        if epoch < end:
            return i, stage
    raise ValueError(f"epoch {epoch} is beyond the schedule ({end} epochs)")


def scale_schedule(stages: Iterable[Mapping], epoch_scale: float) -> list[Stage]:
    """A schedule from params.yaml with every stage's epochs multiplied by ``epoch_scale``
    (rounded, at least 1): the demo trains shorter than the paper (``epoch_scale: 1.0``)."""
    scaled = [dict(s, epochs=max(1, int(round(s["epochs"] * epoch_scale)))) for s in stages]
    return schedule_from_config(scaled)
