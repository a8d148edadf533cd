"""The torch-free part of a Table 1 row: its initialisation and its training settings.

:class:`PatchRowSettings` (built by :func:`row_training_settings`) is exactly what changes a
row's result (:mod:`e2e_mammo.training.patch_stage` runs the job). It lives here, apart from the
job, so that the workflow's parse (which builds it for every row) imports neither torch nor
scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_mammo.plan.schedules import Stage, scale_schedule
from e2e_mammo.plan.settings import FitSettings
from e2e_mammo.plan.weights import MissingWeightsError, imagenet_weights_path


@dataclass(frozen=True)
class PretrainedChoice:
    """How a row is initialised: ``init`` is what runs, ``label`` what Table 1 shows."""

    init: str  # "imagenet" | "none"
    label: str  # "Y", "N", or "N (demo override; paper Y)"
    weights: Path | None = None
    skip_reason: str | None = None


#: How Table 1 says to train a row the demo leaves out.
PATCH_SWITCH = "snakemake all --profile profiles/paper (or patch_training.rows: all)"


def selected_patch_rows(
    table1: Sequence[Mapping[str, Any]], selected: Sequence[str] | str
) -> list[str]:
    """The Table 1 rows ``patch_training.rows`` selects (``all`` or a list), in table order.

    Raises ``ValueError`` naming unknown rows and the valid ones.
    """
    names = [r["row"] for r in table1]
    if selected == "all":
        return names
    unknown = [n for n in selected if n not in names]
    if unknown:
        raise ValueError(
            f"patch_training.rows names rows that are not in table1: {unknown} "
            f"(the rows: {', '.join(names)})"
        )
    return [n for n in names if n in selected]


def not_in_demo_reason(switch: str = PATCH_SWITCH) -> str:
    """What a table says of a row the demo leaves out, with the ``switch`` that trains it
    (Table 1: ``patch_training.rows``; Tables 2/3 pass theirs)."""
    return f"not trained by the demo; to train it: {switch}"


def paper_label(row: Mapping[str, Any]) -> str:
    """``Y`` (ImageNet-pretrained) or ``N``: the row's initialisation as configured."""
    return "Y" if row["pretrained"] == "imagenet" else "N"


def choose_pretrained(row: Mapping[str, Any], cfg: Mapping[str, Any]) -> PretrainedChoice:
    """Apply ``pretrained.override`` and find ImageNet weights for a row that asks for them.

    A missing weight file gives a ``skip_reason`` (``on_missing: skip``) or raises
    :class:`MissingWeightsError` with the exact file and folder (``on_missing: fail``).
    """
    asked = row["pretrained"]
    if cfg.get("override") == "none":
        label = "N" if asked == "none" else f"N (demo override; paper {paper_label(row)})"
        return PretrainedChoice(init="none", label=label)
    if asked == "none":
        return PretrainedChoice(init="none", label="N")
    explicit = (cfg.get("weights") or {}).get(row["arch"])
    try:
        path = imagenet_weights_path(row["arch"], explicit)
    except MissingWeightsError as exc:
        if cfg.get("on_missing", "skip") == "fail":
            raise
        return PretrainedChoice(init="imagenet", label="Y", skip_reason=str(exc))
    return PretrainedChoice(init="imagenet", label="Y", weights=path)


def row_schedule(
    patch_set: str,
    init: str,
    schedules: Mapping[str, Any],
    epoch_scale: float,
    name: str | None = None,
) -> list[Stage]:
    """The row's staged schedule with epochs scaled: the one the row names, else by its
    initialisation and patch set (``pretrained_s10``, ``random_s1``, ...)."""
    if name is not None:
        if name not in schedules:
            raise ValueError(f"schedule {name!r} is not in patch_training.schedules")
        return scale_schedule(schedules[name], epoch_scale)
    kind = "pretrained" if init == "imagenet" else "random"
    stages = schedules.get(f"{kind}_{patch_set.lower()}") or schedules[f"{kind}_s10"]
    return scale_schedule(stages, epoch_scale)


@dataclass(frozen=True)
class PatchRowSettings:
    """Everything that changes one Table 1 row's result, and nothing else: its architecture,
    patch set, initialisation (``init``, and ``pretrained_label`` as Table 1 shows it), staged
    schedule, the top blocks a ``top`` stage trains, batch size, seed, the epoch it keeps
    (``monitor``) and augmentation (``params.yaml``'s form)."""

    arch: str
    patch_set: str
    init: str
    pretrained_label: str
    schedule: tuple[Stage, ...]
    top_blocks: tuple[str, ...]
    batch_size: int
    seed: int
    monitor: str
    augment: Mapping[str, Any]

    @property
    def fit(self) -> FitSettings:
        """How the row trains."""
        return FitSettings(
            schedule=self.schedule,
            seed=self.seed,
            monitor=self.monitor,
            augment=self.augment,
            top_blocks=self.top_blocks,
        )


def row_training_settings(
    row: Mapping[str, Any], training: Mapping[str, Any], pretrained: Mapping[str, Any]
) -> PatchRowSettings:
    """Everything that changes one row's training result, and nothing else."""
    choice = choose_pretrained(row, pretrained)
    schedule = row_schedule(
        row["patch_set"],
        choice.init,
        training["schedules"],
        training["epoch_scale"],
        row.get("schedule"),
    )
    return PatchRowSettings(
        arch=row["arch"],
        patch_set=row["patch_set"],
        init=choice.init,
        pretrained_label=choice.label,
        schedule=tuple(schedule),
        top_blocks=tuple(training["top_blocks"].get(row["arch"], [])),
        batch_size=int(training["batch_size"]),
        seed=int(training["seed"]),
        monitor=training.get("monitor", "val_accuracy"),
        augment=dict(training["augment"]),
    )
