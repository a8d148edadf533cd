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
from e2e_mammo.evaluation.predictions import read_predictions, write_predictions
from e2e_mammo.io import atomic_write_csv, atomic_write_json
from e2e_mammo.logged_models import log_model_reference, register_model
from e2e_mammo.plan.evaluations import EnsembleSettings
from e2e_mammo.plan.tops import paper_family
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


@dataclass(frozen=True)
class EnsembleOutputs:
    """Where the ensemble's files go: ``out_dir``/{summary.json, predictions.csv}, the ROC
    figure (``roc_png``, default ``out_dir/roc.png``), its points (``roc_points_csv``, when
    given) and the model bundle (``bundle``, when given; :mod:`e2e_mammo.models.bundle`)."""

    out_dir: Path
    roc_png: Path | None = None
    roc_points_csv: Path | None = None
    bundle: Path | None = None

    @property
    def png(self) -> Path:
        return self.roc_png or self.out_dir / "roc.png"


def _members_and_predictions(files: list[Path], results: list[dict], families):
    """The chosen members and their averaged prediction tables."""
    choice = _choose(results, families)
    folder = {r["row"]: p.parent for r, p in zip(results, files, strict=True)}
    tables = {m: read_predictions(folder[m] / "predictions.csv") for m in choice.members}
    return choice, folder, average_predictions(tables, score=ENSEMBLE_SCORE)


def run_ensemble(
    result_files: Iterable[Path],
    settings: EnsembleSettings,
    outputs: EnsembleOutputs,
    tracking: TrackingConfig,
) -> dict[str, Any]:
    """Choose, average and score the ensemble of ``result_files`` (the rows' ``result.json``);
    write its :class:`EnsembleOutputs`, record it in MLflow and return the summary
    (:data:`ENSEMBLE_COLUMNS`)."""
    files = [Path(p) for p in result_files]
    results = [json.loads(p.read_text()) for p in files]
    fixed_members, eval_split = settings.families is None, settings.eval_split
    choice, folder, averaged = _members_and_predictions(files, results, settings.families)
    members = choice.members
    summary = ensemble_summary(
        averaged,
        members=members,
        dataset=settings.dataset,
        eval_split=eval_split,
        threshold_split=settings.threshold_split,
        n_boot=int(settings.bootstrap["n_boot"]),
        seed=int(settings.bootstrap["seed"]),
        threshold=settings.threshold,
    )
    summary = _with_families(summary, choice)
    write_predictions(averaged, outputs.out_dir / "predictions.csv")
    which = "fine-tuned members" if fixed_members else "family members"
    title = f"{settings.dataset} {eval_split}: the {len(members)} {which} and their ensemble"
    _write_roc(averaged, members, eval_split, outputs, title, choice.family)
    if outputs.bundle is not None:
        _write_bundle(outputs.bundle, settings, summary, [(m, folder[m]) for m in members])
    files_of_run = EnsembleFiles(outputs.png, outputs.bundle)
    run_id = _track(summary, results, tracking, fixed_members, files_of_run)
    _track_members(averaged, members, results, tracking, run_id, settings)
    atomic_write_json(_plain(summary), outputs.out_dir / "summary.json")
    log.info("ensemble of %s: %s AUC %.3f", members, eval_split, summary["auc"])
    return summary


def _write_bundle(path: Path, settings: EnsembleSettings, summary, members) -> None:
    """The ensemble's self-contained model bundle, with where it came from and how it scored."""
    fixed = settings.families is None
    provenance = {
        "source": f"ensemble/{settings.dataset}",
        "data": settings.data,
        "members": [m for m, _ in members],
    }
    provenance.update(selection=_selection_text(fixed), bootstrap=dict(settings.bootstrap))
    provenance["metrics"] = _plain(summary)
    write_ensemble_bundle(path, [(m, folder / "model.pt") for m, folder in members], provenance)


def _with_families(summary: dict[str, Any], choice: FamilyChoice) -> dict[str, Any]:
    """The summary in :data:`ENSEMBLE_COLUMNS` order, with the members' families and a note
    naming the families that had no trained row."""
    summary = dict(summary, families=";".join(choice.family[m] for m in choice.members))
    if choice.missing:
        gap = f"no trained row of {', '.join(choice.missing)}: not in the ensemble"
        summary["note"] = "; ".join(n for n in (summary["note"], gap) if n)
    return {c: summary.get(c) for c in ENSEMBLE_COLUMNS}


def _write_roc(averaged, members, split, outputs: EnsembleOutputs, title, family) -> None:
    """The ROC figure of the members (labelled by family) and the ensemble on ``split`` (and
    the ensemble's curve as DVC plot data in ``outputs.roc_points_csv``)."""
    plot_roc_curves(_roc_curves(averaged, members, split, family), outputs.png, title)
    if outputs.roc_points_csv is not None:
        evaluated = averaged[averaged["split"] == split]
        points = roc_points(evaluated["label"], evaluated["score"])
        atomic_write_csv(points, outputs.roc_points_csv)


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
    settings: EnsembleSettings,
) -> None:
    """One child run per member under the ensemble's run: the member's flip-averaged AUC
    (``a_auc``) on the evaluated split, with the run that trained it."""
    eval_split, bootstrap, dataset = settings.eval_split, settings.bootstrap, settings.dataset
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
