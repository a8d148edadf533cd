"""The model ensemble of a dataset as a pipeline stage (paper section 3.1.4, Fig 3).

The members are the paper's four families (section 3.1.4): Resnet-Resnet (ResNet50 patch
classifier, ResNet top blocks), Resnet-VGG, VGG-VGG and VGG-Resnet, one member each: the family's
trained row with the best **validation** A-AUC (the AUC of the flip-averaged score, the score the
ensemble averages); the test set chooses nothing. Heatmap-inserted, heatmap + FC and two-step
rows belong to no family and are never members; a family with no trained row is named in the
summary's note. Their
augmented predictions (``tta_prob_malignant``) are averaged per image; the summary has the test
AUC with its 95% patient-level bootstrap interval and the sensitivity and specificity on test at
the operating point chosen on validation (Youden's J, :mod:`.operating_point`). Writes
``summary.json``, ``predictions.csv`` (the averaged and the members' scores) and the ROC figure
of the members and the ensemble on the evaluated split, and records one MLflow run, the parent
of one run per member (the member's A-AUC, ``a_auc``, on the evaluated split).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from e2e_mammo.evaluation.bootstrap import auc_with_ci
from e2e_mammo.evaluation.ensemble import (
    FamilyChoice,
    average_predictions,
    ensemble_summary,
    select_family_members,
)
from e2e_mammo.evaluation.members import read_members as read_members
from e2e_mammo.evaluation.predictions import read_predictions, write_predictions
from e2e_mammo.io import atomic_write_csv, atomic_write_json
from e2e_mammo.logged_models import log_model_reference, register_model
from e2e_mammo.models.top_spec import paper_family
from e2e_mammo.provenance import git_commit
from e2e_mammo.reporting.figures import plot_roc_curves
from e2e_mammo.reporting.summaries import roc_points
from e2e_mammo.tracking import TrackingConfig, start_run

log = logging.getLogger(__name__)
#: Columns of ``results/tables/ensemble.csv``, one row per dataset.
ENSEMBLE_COLUMNS = (
    "dataset",
    "members",
    "families",
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


def result_family(result: Mapping[str, Any]) -> str | None:
    """The paper family of a row's or a cell's ``result.json`` (``None``: none)."""
    if result.get("section") == "two_step":
        return None
    return result.get("family") or paper_family(result.get("arch", ""), result.get("top"))


def family_candidates(
    results: Iterable[Mapping[str, Any]],
) -> dict[str, tuple[str | None, float]]:
    """(family, validation A-AUC) of every trained whole-image model (nan when it has none)."""
    out = {}
    for r in results:
        if r.get("status") == "ok":
            value = r.get(SELECTION_KEY)
            out[r["row"]] = (result_family(r), float(value) if value is not None else math.nan)
    return out


def _choose(results: list[Mapping[str, Any]], families: Sequence[str] | None) -> FamilyChoice:
    """The members: one per family (CBIS-DDSM), or every model given (``families`` None)."""
    if families is None:
        rows = [r["row"] for r in results]
        return FamilyChoice(rows, {r["row"]: result_family(r) or "-" for r in results}, [])
    return select_family_members(family_candidates(results), families)


def _roc_curves(averaged: pd.DataFrame, members: list[str], split: str, family: Mapping[str, str]):
    part = averaged[averaged["split"] == split]
    labels = part["label"].to_numpy()
    curves = {
        f"{family.get(m, '-')}: {m}": (labels, part[f"score_{m}"].to_numpy()) for m in members
    }
    curves[f"ensemble of {len(members)}"] = (labels, part["score"].to_numpy())
    return curves


def run_ensemble(
    result_files: Iterable[Path],
    *,
    dataset: str,
    families: Sequence[str] | None,
    bootstrap: Mapping[str, Any],
    out_dir: Path,
    tracking: TrackingConfig,
    roc_png: Path | None = None,
    roc_points_csv: Path | None = None,
    eval_split: str = "test",
    threshold_split: str = "val",
    threshold: float | None = None,
    bundle: Path | None = None,
    data: str = "real",
) -> dict[str, Any]:
    """Choose, average and score the ensemble; write ``out_dir``/{summary.json, predictions.csv}
    and the ROC figure (``roc_png``, default ``out_dir/roc.png``; its points in
    ``roc_points_csv`` when given); return the summary (:data:`ENSEMBLE_COLUMNS`).

    ``families``: the paper families that give one member each (CBIS-DDSM); ``None``: every
    model of ``result_files`` is a member, in their order (INbreast). ``threshold``: a fixed
    operating point instead of Youden's on ``threshold_split``. ``bundle``: where to write the
    ensemble's model bundle (:mod:`e2e_mammo.models.bundle`), trained on ``data``.
    """
    files = [Path(p) for p in result_files]
    results = [json.loads(p.read_text()) for p in files]
    fixed_members = families is None
    choice = _choose(results, families)
    members = choice.members
    folder = {r["row"]: p.parent for r, p in zip(results, files, strict=True)}
    averaged = average_predictions(
        {m: read_predictions(folder[m] / "predictions.csv") for m in members}, score=ENSEMBLE_SCORE
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
    summary = _with_families(summary, choice)
    write_predictions(averaged, out_dir / "predictions.csv")
    which = "fine-tuned members" if fixed_members else "family members"
    title = f"{dataset} {eval_split}: the {len(members)} {which} and their ensemble"
    png = roc_png or out_dir / "roc.png"
    _write_roc(averaged, members, eval_split, png, roc_points_csv, title, choice.family)
    if bundle is not None:
        provenance = {"source": f"ensemble/{dataset}", "data": data, "members": members}
        provenance.update(selection=_selection_text(fixed_members), bootstrap=dict(bootstrap))
        provenance["metrics"] = _plain(summary)
        write_ensemble_bundle(bundle, [(m, folder[m] / "model.pt") for m in members], provenance)
    run_id = _track(summary, results, tracking, fixed_members, EnsembleFiles(png, bundle))
    _track_members(averaged, members, results, tracking, run_id, eval_split, bootstrap, dataset)
    atomic_write_json(_plain(summary), out_dir / "summary.json")
    log.info("ensemble of %s: %s AUC %.3f", members, eval_split, summary["auc"])
    return summary


def _with_families(summary: dict[str, Any], choice: FamilyChoice) -> dict[str, Any]:
    """The summary in :data:`ENSEMBLE_COLUMNS` order, with the members' families and a note
    naming the families that had no trained row."""
    summary = dict(summary, families=";".join(choice.family[m] for m in choice.members))
    if choice.missing:
        gap = f"no trained row of {', '.join(choice.missing)}: not in the ensemble"
        summary["note"] = "; ".join(n for n in (summary["note"], gap) if n)
    return {c: summary.get(c) for c in ENSEMBLE_COLUMNS}


def _write_roc(averaged, members, split, png, points, title, family) -> None:
    """The ROC figure of the members (labelled by family) and the ensemble on ``split`` (and
    the ensemble's curve as DVC plot data in ``points``)."""
    plot_roc_curves(_roc_curves(averaged, members, split, family), png, title)
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


@dataclass(frozen=True)
class EnsembleFiles:
    """What the ensemble's run holds: its ROC figure and its model bundle (if written)."""

    roc_png: Path
    bundle: Path | None = None


def registered_name(tracking: TrackingConfig, dataset: str) -> str:
    """The model registry's name of a dataset's ensemble: ``<experiment>-<dataset>-ensemble``
    (``e2e-mammo-cbis-ddsm-ensemble`` with the default experiment)."""
    return f"{tracking.experiment}-{dataset}-ensemble"


def _track(
    summary, results, tracking: TrackingConfig, fixed: bool, files: EnsembleFiles
) -> str | None:
    """The ensemble's run (the parent of its members' runs), holding its ROC figure, its
    bundle as an external logged model with the ensemble's metrics, registered under
    :func:`registered_name` with the run's context as alias; the run's id."""
    dataset, members = summary["dataset"], summary["members"].split(";")
    tags = {"stage": "ensemble", "dataset": dataset, "group": f"ensemble-{dataset}"}
    tags["git_commit"] = git_commit()
    with start_run(tracking, f"ensemble/{dataset}", tags=tags) as run:
        by_row = {r["row"]: r for r in results}
        selection = _selection_text(fixed)
        params = {"members": ";".join(members), "selection": selection}
        params.update({f"{m}_val_a_auc": by_row[m].get(SELECTION_KEY) for m in members})
        run.log_params(params)
        metrics = {
            k: float(summary[k])
            for k in ("auc", "ci_low", "ci_high", "sensitivity", "specificity", "threshold")
            if _finite(summary[k])
        }
        run.log_artifact(files.roc_png)
        if files.bundle is None:
            run.log_metrics(metrics)
        else:
            model_id = log_model_reference(run, files.bundle, metrics, model_type="ensemble")
            register_model(run, model_id, registered_name(tracking, dataset), tracking.context)
    return run.run_id


def _selection_text(fixed: bool) -> str:
    if fixed:
        return "given (fine-tuned members)"
    return f"one per paper family, its highest {SELECTION_KEY}"


#: The metrics of every member's run under an ensemble (the same keys, so MLflow lines them up):
#: the flip-averaged AUC the ensemble averages (A-AUC) and its interval.
MEMBER_METRICS = {"a_auc": "auc", "a_auc_ci_low": "ci_low", "a_auc_ci_high": "ci_high"}


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
    """One child run per member under the ensemble's run: the member's flip-averaged AUC
    (``a_auc``) on the evaluated split, with the run that trained it."""
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
            scalars = {key: ci[name] for key, name in MEMBER_METRICS.items()}
            run.log_metrics({k: float(v) for k, v in scalars.items() if _finite(v)})


def _finite(value: Any) -> bool:
    return isinstance(value, int | float | np.floating) and bool(np.isfinite(value))


def write_ensemble_table(summary_files: Iterable[Path], csv: Path) -> pd.DataFrame:
    """``results/tables/ensemble.csv``: one row per dataset's ``summary.json``."""
    rows = [json.loads(Path(p).read_text()) for p in summary_files]
    frame = pd.DataFrame(rows, columns=list(ENSEMBLE_COLUMNS))
    atomic_write_csv(frame, csv)
    return frame
