"""The settings of the stages that evaluate saved predictions and models and never train: a
dataset's ensemble (Fig 3), the claims table and the heatmaps' localisation table. Built by the plan
(:meth:`~e2e_mammo.plan.matrix.ExperimentPlan.ensemble`, ``.claims``), run by
:mod:`e2e_mammo.reporting.ensemble_stage` and :mod:`e2e_mammo.reporting.claims_stage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from e2e_mammo.plan.transfer_cells import size_label


@dataclass(frozen=True)
class EnsembleSettings:
    """How a dataset's ensemble is chosen and scored.

    ``families``: the paper families that give one member each (CBIS-DDSM); ``None``: every
    model given is a member, in their order (INbreast). ``bootstrap``: ``{n_boot, seed}`` of the
    95% intervals. ``threshold``: a fixed operating point instead of Youden's on
    ``threshold_split``. ``data``: what the members were trained on (``real`` or ``synthetic``),
    recorded in the bundle.
    """

    dataset: str
    families: Sequence[str] | None
    bootstrap: Mapping[str, Any]
    eval_split: str = "test"
    threshold_split: str = "val"
    threshold: float | None = None
    data: str = "real"


@dataclass(frozen=True)
class ClaimSettings:
    """The bootstrap, the sweep's sizes in order, the paper's Table 4 AUCs (size label ->
    {family: auc}) and ensemble AUC, and what a not-run note says (rows; sweep sizes)."""

    n_boot: int = 2000
    seed: int = 0
    sizes: Sequence[int | str] = ()
    paper_table4: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    not_run_switch: str = ""
    paper_ensemble_auc: float | None = None
    sweep_switch: str = ""


@dataclass(frozen=True)
class OverlaySettings:
    """The heatmap overlays: how many test images, the image size and the patch side."""

    n_images: int
    image_size: tuple[int, int]
    patch_size: int


@dataclass(frozen=True)
class LocalisationSettings:
    """The pointing game's image and patch sizes (the heatmap's window) and the bootstrap of
    its intervals."""

    image_size: tuple[int, int]
    patch_size: int
    n_boot: int = 2000
    seed: int = 0


def paper_numbers(*tables: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{row: {paper_auc, paper_a_auc}}`` from params.yaml's ``table2``/``table3`` lists."""
    return {
        r["row"]: {"paper_auc": r.get("paper_auc"), "paper_a_auc": r.get("paper_a_auc")}
        for table in tables
        for r in table
    }


def paper_table4_aucs(table4: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """``{size label: {family: auc}}`` from params.yaml's ``table4`` list."""
    return {size_label(r["size"]): dict(r.get("paper_auc") or {}) for r in table4}
