"""The model ensemble of a dataset as a pipeline stage (paper section 3.1.4, Fig 3).

Candidates are the end-to-end whole-image models that trained (``status: ok``; the two-step
baseline is not one). The ``k`` best on **validation** A-AUC (the AUC of the flip-averaged
score, the score the ensemble averages) are the members; the test set chooses nothing. Their
augmented predictions (``tta_prob_malignant``) are averaged per image; the summary has the test
AUC with its 95% patient-level bootstrap interval and the sensitivity and specificity on test at
the operating point chosen on validation (Youden's J, :mod:`.operating_point`). Writes
``summary.json``, ``predictions.csv`` (the averaged and the members' scores) and the ROC figure
of the members and the ensemble on the evaluated split, and records one MLflow run, the parent
of one run per member (the member's AUC on the evaluated split).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from e2e_mammo.evaluation.bootstrap import auc_with_ci
from e2e_mammo.evaluation.ensemble import average_predictions, ensemble_summary, select_members
from e2e_mammo.evaluation.members import read_members as read_members
from e2e_mammo.io import atomic_write_csv, atomic_write_json
from e2e_mammo.reporting.figures import plot_roc_curves
from e2e_mammo.reporting.summaries import roc_points
from e2e_mammo.tracking import TrackingConfig, git_commit, start_run

log = logging.getLogger(__name__)
#: Columns of ``results/tables/ensemble.csv``, one row per dataset.
ENSEMBLE_COLUMNS = (
    "dataset",
    "members",
    "auc",
    "ci_low",
    "ci_high",
    "sensitivity",
    "specificity",
    "threshold",
    "threshold_split",
    "eval_split",
    "n",
    "note",
)
SELECTION_KEY = "val_a_auc"
ENSEMBLE_SCORE = "tta_prob_malignant"


def candidate_scores(results: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Validation A-AUC of every trained end-to-end model (nan when it has none)."""
    out = {}
    for r in results:
        if r.get("status") == "ok" and r.get("section") != "two_step":
            value = r.get(SELECTION_KEY)
            out[r["row"]] = float(value) if value is not None else float("nan")
    return out


def _roc_curves(averaged: pd.DataFrame, members: list[str], split: str):
    part = averaged[averaged["split"] == split]
    labels = part["label"].to_numpy()
    curves = {m: (labels, part[f"score_{m}"].to_numpy()) for m in members}
    curves[f"ensemble of {len(members)}"] = (labels, part["score"].to_numpy())
    return curves


def run_ensemble(
    result_files: Iterable[Path],
    *,
    dataset: str,
    k: int,
    bootstrap: Mapping[str, Any],
    out_dir: Path,
    tracking: TrackingConfig,
    roc_png: Path | None = None,
    roc_points_csv: Path | None = None,
    eval_split: str = "test",
    threshold_split: str = "val",
    threshold: float | None = None,
    fixed_members: bool = False,
    bundle: Path | None = None,
    data: str = "real",
) -> dict[str, Any]:
    """Choose, average and score the ensemble; write ``out_dir``/{summary.json, predictions.csv}
    and the ROC figure (``roc_png``, default ``out_dir/roc.png``; its points in ``roc_points_csv``
    when given); return the summary (the
    columns of :data:`ENSEMBLE_COLUMNS`).

    ``fixed_members``: every model of ``result_files`` is a member, in their order (INbreast:
    the fine-tuned CBIS-DDSM members; nothing is chosen on its reported split). ``threshold``:
    a fixed operating point instead of Youden's on ``threshold_split``. ``bundle``: where to
    write the ensemble's model bundle (its members' ``model.pt`` bundles in one file, with this
    summary; :mod:`e2e_mammo.models.bundle`), trained on ``data`` (``synthetic``/``real``).
    """
    files = [Path(p) for p in result_files]
    results = [json.loads(p.read_text()) for p in files]
    members = (
        [r["row"] for r in results]
        if fixed_members
        else select_members(candidate_scores(results), k)
    )
    folder = {r["row"]: p.parent for r, p in zip(results, files, strict=True)}
    averaged = average_predictions(
        {m: pd.read_csv(folder[m] / "predictions.csv") for m in members}, score=ENSEMBLE_SCORE
    )
    summary = ensemble_summary(
        averaged,
        members=members,
        dataset=dataset,
        eval_split=eval_split,
        threshold_split=threshold_split,
        n_boot=int(bootstrap["n_boot"]),
        seed=int(bootstrap["seed"]),
        threshold=threshold,
    )
    summary = {c: summary.get(c) for c in ENSEMBLE_COLUMNS}
    atomic_write_csv(averaged, out_dir / "predictions.csv")
    which = "fine-tuned members" if fixed_members else "best models"
    title = f"{dataset} {eval_split}: the {len(members)} {which} and their ensemble"
    _write_roc(averaged, members, eval_split, roc_png or out_dir / "roc.png", roc_points_csv, title)
    run_id = _track(summary, members, results, tracking, dataset, fixed_members)
    _track_members(averaged, members, results, tracking, run_id, eval_split, bootstrap, dataset)
    if bundle is not None:
        selection = "given (fine-tuned members)" if fixed_members else f"{k} best {SELECTION_KEY}"
        provenance = {"source": f"ensemble/{dataset}", "data": data, "members": members}
        provenance.update(selection=selection, bootstrap=dict(bootstrap), metrics=_plain(summary))
        write_ensemble_bundle(bundle, [(m, folder[m] / "model.pt") for m in members], provenance)
    atomic_write_json(_plain(summary), out_dir / "summary.json")
    log.info("ensemble of %s: %s AUC %.3f", members, eval_split, summary["auc"])
    return summary


def _write_roc(averaged, members, split: str, png: Path, points: Path | None, title: str) -> None:
    """The ROC figure of the members and the ensemble on ``split`` (and the ensemble's curve as
    DVC plot data in ``points``)."""
    plot_roc_curves(_roc_curves(averaged, members, split), png, title)
    if points is not None:
        evaluated = averaged[averaged["split"] == split]
        atomic_write_csv(roc_points(evaluated["label"], evaluated["score"]), points)


def write_ensemble_bundle(
    path: Path, members: list[tuple[str, Path]], provenance: Mapping[str, Any]
) -> Path:
    """The ensemble's model bundle (torch is imported only here)."""
    from e2e_mammo.models.bundle import save_ensemble_bundle

    return save_ensemble_bundle(path, members, provenance)


def _plain(summary: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe: nan -> None."""
    out = {}
    for key, value in summary.items():
        if isinstance(value, float | np.floating) and not np.isfinite(value):
            value = None
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def _track(
    summary, members, results, tracking: TrackingConfig, dataset: str, fixed: bool
) -> str | None:
    """The ensemble's run (the parent of its members' runs); its id."""
    tags = {"stage": "ensemble", "dataset": dataset, "group": f"ensemble-{dataset}"}
    tags["git_commit"] = git_commit()
    with start_run(tracking, f"ensemble/{dataset}", tags=tags) as run:
        by_row = {r["row"]: r for r in results}
        selection = "given (fine-tuned members)" if fixed else f"highest {SELECTION_KEY}"
        params = {"members": ";".join(members), "selection": selection}
        params.update({f"{m}_val_a_auc": by_row[m].get(SELECTION_KEY) for m in members})
        run.log_params(params)
        metrics = {
            k: summary[k]
            for k in ("auc", "ci_low", "ci_high", "sensitivity", "specificity", "threshold")
        }
        run.log_metrics({k: float(v) for k, v in metrics.items() if _finite(v)})
    return run.run_id


#: The metrics of every member's run under an ensemble (the same keys, so MLflow lines them up).
MEMBER_METRICS = ("auc", "ci_low", "ci_high")


def _track_members(
    averaged: pd.DataFrame,
    members: list[str],
    results: list[Mapping[str, Any]],
    tracking: TrackingConfig,
    ensemble_run_id: str | None,
    eval_split: str,
    bootstrap: Mapping[str, Any],
    dataset: str,
) -> None:
    """One child run per member under the ensemble's run: the member's flip-averaged AUC on
    the evaluated split, with the run that trained it."""
    part = averaged[averaged["split"] == eval_split]
    training_runs = {r["row"]: r.get("mlflow_run_id") for r in results}
    child = replace(tracking, parent_run_id=ensemble_run_id)
    for member in members:
        ci = auc_with_ci(
            part["label"].to_numpy(),
            part[f"score_{member}"].to_numpy(),
            part["patient_id"].to_numpy(),
            n_boot=int(bootstrap["n_boot"]),
            seed=int(bootstrap["seed"]),
        )
        tags = {"stage": "ensemble_member", "dataset": dataset, "row": member}
        tags["training_run_id"] = str(training_runs.get(member))
        with start_run(child, f"ensemble/{dataset}/{member}", tags=tags) as run:
            run.log_metrics({k: float(ci[k]) for k in MEMBER_METRICS if _finite(ci[k])})


def _finite(value: Any) -> bool:
    return isinstance(value, int | float | np.floating) and bool(np.isfinite(value))


def write_ensemble_table(summary_files: Iterable[Path], csv: Path) -> pd.DataFrame:
    """``results/tables/ensemble.csv``: one row per dataset's ``summary.json``."""
    rows = [json.loads(Path(p).read_text()) for p in summary_files]
    frame = pd.DataFrame(rows, columns=list(ENSEMBLE_COLUMNS))
    atomic_write_csv(frame, csv)
    return frame
