"""The claims table as a pipeline stage: result files in, CSV and Markdown out, one MLflow run.

Reads every Table 2/3 row's ``result.json`` (and ``predictions.csv`` beside it when the row
trained), the CBIS-DDSM ensemble's summary and predictions when there is one, and every Table 4
cell's ``result.json`` (and its ``predictions.csv``); computes :func:`claims_frame`; writes the
CSV and the Markdown atomically and records one MLflow run ``claims`` (each comparison's
difference as a metric, its verdict as a tag, the CSV as an artifact).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from e2e_mammo.evaluation.predictions import read_predictions
from e2e_mammo.io import atomic_write_bytes, atomic_write_csv
from e2e_mammo.plan.evaluations import ClaimSettings
from e2e_mammo.plan.tops import paper_family
from e2e_mammo.plan.transfer_cells import size_label
from e2e_mammo.provenance import git_commit
from e2e_mammo.reporting.claims import (
    EnsembleResult,
    RowResult,
    TransferCell,
    claims_frame,
    claims_markdown,
)
from e2e_mammo.tracking import TrackingConfig, start_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimInputs:
    """The stage's inputs: row and cell ``result.json`` paths (predictions beside them), the
    paper's numbers per row (``{row: {paper_auc, paper_a_auc}}``) and the ensemble's files."""

    row_results: Sequence[Path]
    paper: Mapping[str, Mapping[str, Any]]
    ensemble_summary: Path | None = None
    ensemble_predictions: Path | None = None
    cell_results: Sequence[Path] = ()


def _predictions(folder: Path) -> pd.DataFrame | None:
    path = folder / "predictions.csv"
    return read_predictions(path) if path.is_file() else None


def read_rows(paths: Iterable[Path], paper: Mapping[str, Mapping[str, Any]]) -> list[RowResult]:
    """The Table 2/3 rows of ``paths`` (``result.json``), with the paper's numbers."""
    out = []
    for path in map(Path, paths):
        r = json.loads(path.read_text())
        published = paper.get(r["row"], {})
        status = r.get("status", "ok")
        out.append(
            RowResult(
                name=r["row"],
                table=int(r.get("table") or 0),
                arch=r.get("arch", ""),
                section=r.get("section", ""),
                family=r.get("family"),
                status=status,
                note=r.get("note", ""),
                val_a_auc=r.get("val_a_auc"),
                paper_auc=published.get("paper_auc"),
                paper_a_auc=published.get("paper_a_auc"),
                predictions=_predictions(path.parent) if status == "ok" else None,
            )
        )
    return out


def read_ensemble(summary: Path | None, predictions: Path | None) -> EnsembleResult | None:
    """The ensemble of ``summary.json`` (``members``: ``a;b;...``) and ``predictions.csv``, or
    ``None`` when either file is absent."""
    if summary is None or predictions is None:
        return None
    if not (Path(summary).is_file() and Path(predictions).is_file()):
        log.warning("no ensemble: %s or %s is missing", summary, predictions)
        return None
    members = json.loads(Path(summary).read_text()).get("members") or ""
    if isinstance(members, str):
        members = [m for m in members.split(";") if m]
    return EnsembleResult(tuple(members), read_predictions(predictions))


def read_cells(paths: Iterable[Path]) -> list[TransferCell]:
    """The Table 4 cells of ``paths`` (``result.json``), with their predictions when ok."""
    out = []
    for path in map(Path, paths):
        r = json.loads(path.read_text())
        status = r.get("status", "ok")
        out.append(
            TransferCell(
                init=r["init"],
                model=r["row"],
                family=paper_family(r.get("arch", ""), r.get("top") or {}),
                size=size_label(r["size"]),
                seed=int(r["seed"]),
                status=status,
                predictions=_predictions(path.parent) if status == "ok" else None,
            )
        )
    return out


def _track(
    frame: pd.DataFrame, settings: ClaimSettings, tracking: TrackingConfig, csv: Path
) -> None:
    """The stage's one MLflow run: per comparison its difference (when finite) and verdict."""
    tags = {"stage": "claims", "git_commit": git_commit()}
    with start_run(tracking, "claims", tags=tags) as run:
        run.log_params({"n_boot": settings.n_boot, "seed": settings.seed})
        metrics, verdicts = {}, {}
        for i, row in enumerate(frame.itertuples(index=False), start=1):
            verdicts[f"claim{i:02d}_verdict"] = row.verdict
            if isinstance(row.difference, float) and math.isfinite(row.difference):
                metrics[f"claim{i:02d}_difference"] = row.difference
        run.log_metrics(metrics)
        run.set_tags(verdicts)
        run.log_artifact(csv)


def write_claims(
    inputs: ClaimInputs,
    settings: ClaimSettings,
    csv: Path,
    md: Path,
    tracking: TrackingConfig,
) -> pd.DataFrame:
    """Read the results, compute the claims, write ``csv`` and ``md`` (atomically), record
    one MLflow run ``claims``; return the table."""
    rows = read_rows(inputs.row_results, inputs.paper)
    ensemble = read_ensemble(inputs.ensemble_summary, inputs.ensemble_predictions)
    cells = read_cells(inputs.cell_results)
    frame = claims_frame(rows, ensemble, cells, settings)
    atomic_write_csv(frame, csv)
    atomic_write_bytes(claims_markdown(frame, settings).encode(), md)
    _track(frame, settings, tracking, Path(csv))
    counts = frame["verdict"].value_counts().to_dict()
    log.info("claims: %d comparisons, %s", len(frame), counts)
    return frame
