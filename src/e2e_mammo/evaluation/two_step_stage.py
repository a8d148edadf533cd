"""The two-step baseline as a pipeline stage (the last row of Table 2).

The ResNet50 patch classifier is applied densely to every image (softmax heatmap of the five
patch classes, :func:`e2e_mammo.models.heatmap.patch_heatmap`); regional features of the
heatmap binarised at each cutoff (:mod:`.two_step`) train a random forest on the training split
only; validation and test are scored, never chosen on. Writes ``predictions.csv`` (per image:
``prob_malignant``, the forest's probability) and ``result.json`` with the test AUC and its 95%
patient-level bootstrap interval, and records one MLflow run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2e_mammo.constants import SPLITS
from e2e_mammo.data import WholeImageDataset, make_loader
from e2e_mammo.data.batches import prepare_batch
from e2e_mammo.data.whole_images import image_split_tables
from e2e_mammo.evaluation.predictions import write_predictions
from e2e_mammo.evaluation.split_metrics import SCORE, metric_scalars, split_metrics
from e2e_mammo.evaluation.two_step import fit_random_forest, region_features, two_step_scores
from e2e_mammo.io import atomic_write_json
from e2e_mammo.models.heatmap import heatmap_window, patch_heatmap
from e2e_mammo.models.saved import load_model
from e2e_mammo.plan.settings import to_params
from e2e_mammo.plan.whole_rows import TwoStepSettings
from e2e_mammo.provenance import git_commit
from e2e_mammo.tracking import TrackingConfig, start_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwoStepInputs:
    """The files one two-step job reads and writes."""

    splits_csv: Path
    manifest_csv: Path
    patch_model: Path
    out_dir: Path


def heatmap_features(
    patch_model: torch.nn.Module,
    dataset: WholeImageDataset,
    window: int,
    cutoffs: tuple[float, ...],
    batch_size: int = 4,
) -> np.ndarray:
    """Regional features (one row per image) of the patch classifier's heatmaps."""
    rows = []
    for xb, _, _ in make_loader(dataset, batch_size, shuffle=False):
        maps = patch_heatmap(patch_model, prepare_batch(xb, device="cpu"), window)
        rows.extend(region_features(m.numpy(), cutoffs) for m in maps)
    return np.asarray(rows, dtype=np.float64)


def _predictions(tables, scores) -> pd.DataFrame:
    frames = []
    for split in SPLITS:
        ids = tables[split].drop(columns=["png_path"])
        frame = pd.DataFrame({"split": split, "row": np.arange(len(ids))})
        frame = pd.concat([frame, ids.reset_index(drop=True)], axis=1)
        frame[SCORE] = scores[split]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _fit_and_score(settings: TwoStepSettings, inputs: TwoStepInputs):
    tables = image_split_tables(inputs.splits_csv, inputs.manifest_csv)
    patch_model, _ = load_model(inputs.patch_model)
    window = heatmap_window(settings.patch_size)
    size, cutoffs = settings.image_size, settings.cutoffs
    features = {}
    for split, table in tables.items():
        dataset = WholeImageDataset(table["png_path"], table["label"], size)
        features[split] = heatmap_features(patch_model, dataset, window, cutoffs)
        log.info("heatmap features of %d %s images", len(table), split)
    forest = fit_random_forest(
        features["train"],
        tables["train"]["label"].to_numpy(),
        n_estimators=settings.n_estimators,
        max_depth=settings.max_depth,
        min_samples_split=settings.min_samples_split,
        seed=settings.seed,
    )
    scores = {s: two_step_scores(forest, f) if len(f) else np.zeros(0) for s, f in features.items()}
    return tables, scores


def run_two_step(
    row_name: str,
    settings: TwoStepSettings,
    inputs: TwoStepInputs,
    meta: Mapping[str, Any],
    *,
    tracking: TrackingConfig,
    threads: int = 1,
) -> dict[str, Any]:
    """Fit and score the two-step baseline; write ``predictions.csv`` and ``result.json``."""
    torch.set_num_threads(max(1, threads))
    tables, scores = _fit_and_score(settings, inputs)
    predictions = _predictions(tables, scores)
    write_predictions(predictions, inputs.out_dir / "predictions.csv")
    metrics = split_metrics(predictions, settings.bootstrap)
    tags = {
        "table": str(meta.get("table", "")),
        "row": row_name,
        "stage": "two_step",
        "status": "ok",
        "git_commit": git_commit(),
    }
    with start_run(tracking, f"table{meta.get('table', '')}/{row_name}", tags=tags) as run:
        run.log_params(to_params(settings))
        run.log_metrics(metric_scalars(metrics))
    result = {
        "row": row_name,
        "arch": settings.arch,
        "patch_set": settings.patch_set,
        "patch_model": settings.patch_row,
        "status": "ok",
        **meta,
        **metrics,
        **{f"n_{s}": len(tables[s]) for s in SPLITS},
        "mlflow_run_id": run.run_id,
    }
    atomic_write_json(result, inputs.out_dir / "result.json")
    return result
