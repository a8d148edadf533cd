"""One row of Table 1: train a patch classifier on a patch set, score validation and test.

The row's training settings (:class:`~e2e_mammo.plan.patch_rows.PatchRowSettings`, built by
the torch-free plan) are exactly what changes its result:
architecture, patch set, initialisation and weights file, its own schedule (epochs scaled),
its top blocks, batch size, seed, augmentation and monitor. The paper's published numbers
never reach a training job (they go to the table). The job (:func:`train_patch_row`) runs
through :func:`~e2e_mammo.training.job.run_tracked_job`: one MLflow run (tags ``table=1``,
``row``, ``stage=patch``), resume of an interrupted job only, and the outputs ``model.pt``
(best epoch, :mod:`e2e_mammo.models.saved`), ``predictions.csv`` (:data:`SCORED_SPLITS`, per patch:
:mod:`e2e_mammo.evaluation.predictions`), ``history.csv``, learning curves and ``result.json``.
A row whose ImageNet weights are missing is recorded by :func:`record_row_not_run`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from e2e_mammo.constants import PATCH_CLASSES, SPLITS
from e2e_mammo.data import load_patch_split, make_loader
from e2e_mammo.evaluation.predictions import prediction_frame, write_predictions
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.saved import save_model
from e2e_mammo.plan.patch_rows import PatchRowSettings
from e2e_mammo.plan.settings import to_params
from e2e_mammo.provenance import git_commit
from e2e_mammo.tracking import TrackingConfig
from e2e_mammo.training.devices import pick_device
from e2e_mammo.training.fit import FitConfig, fit_config
from e2e_mammo.training.job import JobContext, JobOutcome, TrackedJob, run_tracked_job
from e2e_mammo.training.loop import evaluate

log = logging.getLogger(__name__)
#: A ResNet50 checkpoint (last + best weights + Adam state) is ~380 MB and takes ~0.5-0.9 s to
#: write on the 2-core machines; short demo epochs (~4 s) write one at most every 30 s.
CHECKPOINT_INTERVAL_S = 30.0
#: The splits scored into ``predictions.csv``: validation and test (Table 1, the localisation
#: table). Nothing reads training-set scores, which took a fifth of the final scoring of the
#: demo's S10 row (as in :mod:`e2e_mammo.training.whole_stage`).
SCORED_SPLITS = ("val", "test")


def _score_splits(model, data, dev, cfg: FitConfig, batch_size: int):
    """Predictions of the scored splits (one table) and the test metrics, scored as in
    training."""
    frames, metrics = [], {}
    for split in SCORED_SPLITS:
        dataset, index = data[split]
        loader = make_loader(dataset, batch_size, shuffle=False)
        last = cfg.uses_channels_last(dev)
        result = evaluate(model, loader, device=dev, channels_last=last, amp=cfg.amp)
        frames.append(prediction_frame(split, result, PATCH_CLASSES, ids=index))
        if split == "test":
            metrics = {
                "test_accuracy": result["accuracy"],
                "test_loss": result["loss"],
                "test_auc": result["auc"],
            }
    return pd.concat(frames, ignore_index=True), metrics


@dataclass(frozen=True)
class PatchRowFiles:
    """The files of one Table 1 row's job: the patch set's arrays (``patches_dir``), the
    pixel mean (``mean_json``), the output folder and, for ``init: imagenet``, the ImageNet
    weights file (its content is part of the job's identity; its path is not)."""

    patches_dir: Path
    mean_json: Path
    out_dir: Path
    weights: Path | None = None


@dataclass(frozen=True)
class _RowInputs:
    settings: PatchRowSettings
    patches_dir: Path
    mean: float
    out_dir: Path
    weights: Path | None
    device: str


def _build_model(row: _RowInputs) -> torch.nn.Module:
    torch.manual_seed(row.settings.seed)  # the random initialisation is part of the run
    return build_patch_classifier(
        row.settings.arch,
        pretrained=row.settings.init,
        weights_path=row.weights,
        mean=row.mean,
    )


def _save_outputs(model, row: _RowInputs, predictions: pd.DataFrame) -> None:
    write_predictions(predictions, row.out_dir / "predictions.csv")
    spec = {
        "arch": row.settings.arch,
        "n_classes": len(PATCH_CLASSES),
        "class_names": list(PATCH_CLASSES),
    }
    save_model(row.out_dir / "model.pt", model, "patch_classifier", spec)


def _train(ctx: JobContext, row: _RowInputs) -> JobOutcome:
    data = {split: load_patch_split(row.patches_dir, split) for split in SPLITS}
    cfg = dataclasses.replace(fit_config(row.settings.fit), cpu_channels_last=True)
    model, dev, bs = _build_model(row), pick_device(row.device), row.settings.batch_size
    seed = row.settings.seed
    # memory-mapped patch batches are one copy each: loader workers would cost more than save
    train = make_loader(data["train"][0], bs, shuffle=True, seed=seed, drop_single=True)
    val = make_loader(data["val"][0], bs, shuffle=False)
    result = ctx.fit(model, train, val, cfg, dev, CHECKPOINT_INTERVAL_S)
    predictions, metrics = _score_splits(model, data, dev, cfg, bs)
    _save_outputs(model, row, predictions)
    best = result.best_score if math.isfinite(result.best_score) else None
    metrics.update(best_epoch=result.best_epoch, best_val_score=best)
    counts = {f"n_{s}": len(data[s][0]) for s in SPLITS}
    extra = {"epochs_trained": result.epochs, "monitor": result.monitor, **counts}
    return JobOutcome(result.history, metrics, extra)


def train_patch_row(
    row_name: str,
    settings: PatchRowSettings,
    files: PatchRowFiles,
    tracking: TrackingConfig,
    threads: int = 1,
    device: str = "auto",
) -> dict:
    """Train (or resume an interrupted) Table 1 row; write its outputs; return ``result.json``."""
    patches_dir, mean_json, out_dir = files.patches_dir, files.mean_json, files.out_dir
    weights = files.weights
    torch.set_num_threads(max(1, threads))
    mean = float(json.loads(Path(mean_json).read_text())["mean"])
    inputs = tuple(patches_dir / f"{s}.{ext}" for s in SPLITS for ext in ("npy", "csv"))
    inputs += (Path(mean_json),) + ((Path(weights),) if weights else ())
    tags = {"table": "1", "row": row_name, "stage": "patch", "status": "ok"}
    plain = to_params(settings)
    job = TrackedJob(
        name=f"table1/{row_name}",
        out_dir=out_dir,
        inputs=inputs,
        # how Table 1 labels the initialisation is not part of the training
        settings={k: v for k, v in plain.items() if k != "pretrained_label"},
        tags={**tags, "git_commit": git_commit(), "init": settings.init},
        params={**plain, "mean": mean, "threads": threads},
        datasets=tuple((s, patches_dir / f"{s}.csv") for s in SPLITS),
        result={
            "row": row_name,
            "arch": settings.arch,
            "patch_set": settings.patch_set,
            "pretrained_label": settings.pretrained_label,
            "status": "ok",
            "note": _init_note(settings.pretrained_label),
        },
    )
    row = _RowInputs(settings, patches_dir, mean, out_dir, weights, device)
    return run_tracked_job(job, tracking, lambda ctx: _train(ctx, row))


def _init_note(label: str) -> str:
    if label.startswith("N (demo"):
        return "random initialisation (pretrained.override: none); the paper used ImageNet weights"
    return ""
