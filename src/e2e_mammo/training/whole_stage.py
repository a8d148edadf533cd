"""One row of Tables 2 and 3: a whole-image classifier built on a trained patch classifier.

The patch classifier (a Table 1 row's ``model.pt``) loses its pooling and dense head; its
convolutional part is applied to the whole image and the row's new top layers follow
(:mod:`e2e_mammo.models.whole_image`). Training is the paper's 2-stage schedule from
``params.yaml`` (stage 1: only the new top layers, 1e-4, weight decay 1e-3; stage 2: all layers,
1e-5, weight decay 1e-2), weight decay on the new layers' kernels only (``decay:
head_kernels``, Keras' ``l2`` scale; :func:`e2e_mammo.training.staged.make_optimizer`), the
best epoch chosen on validation ROC AUC, the patch stage's augmentation and mean subtraction.
The patch layers' batch-norm statistics stay fixed (``patch_bn: fixed``, the default): at batch 2
the statistics of two images would overwrite those learned on thousands of patches (the same
reason torchvision's detection models freeze them); their scale and shift still train in stage
2, and the new top layers' batch norm uses batch statistics as usual. ``patch_bn: batch`` lets
them update, as the authors' Keras code did.

Validation and test are scored once at the end, with and without flip TTA (one batched forward
pass of the four flips), into ``predictions.csv``: the ensemble, ROC curves, intervals and later
stages read it and never rerun the model. ``result.json`` holds test AUC and A-AUC, each with a 95%
patient-level bootstrap interval, the validation AUCs that choose ensemble members, the best
epoch and the row's table cells.

:class:`~e2e_mammo.plan.whole_rows.WholeRowSettings` (built by the torch-free plan) is exactly
what changes a row's result: the paper's published
numbers never reach a training job, and neither do loader workers or activation checkpointing
(they change speed and memory, not results).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from e2e_mammo.constants import IMAGE_CLASSES, SPLITS
from e2e_mammo.data import WholeImageDataset, make_loader
from e2e_mammo.data.whole_images import image_split_tables
from e2e_mammo.evaluation.predictions import prediction_frame, write_predictions
from e2e_mammo.evaluation.split_metrics import metric_scalars, split_metrics
from e2e_mammo.models.bundle import (
    heatmap_head,
    linear_head_entry,
    preprocess_record,
    provenance_record,
    save_bundle,
)
from e2e_mammo.models.heatmap import heatmap_window
from e2e_mammo.models.saved import load_model
from e2e_mammo.models.whole_image import build_whole_image_classifier, whole_image_spec
from e2e_mammo.plan.settings import to_params
from e2e_mammo.plan.transfer_cells import TransferCellSettings
from e2e_mammo.plan.whole_rows import NetworkSettings, WholeRowSettings
from e2e_mammo.provenance import git_commit
from e2e_mammo.tracking import TrackingConfig
from e2e_mammo.training.devices import pick_device
from e2e_mammo.training.fit import fit_config
from e2e_mammo.training.job import JobContext, JobOutcome, TrackedJob, run_tracked_job
from e2e_mammo.training.loop import evaluate

log = logging.getLogger(__name__)
#: Seconds between checkpoints (a ResNet50 whole-image checkpoint is ~0.5 GB with Adam state).
CHECKPOINT_INTERVAL_S = 60.0
#: The splits scored into ``predictions.csv``: validation (ensemble members, operating point) and
#: test (the tables). Nothing reads training-set scores; with flip TTA they were a fifth of a
#: demo row's time.
SCORED_SPLITS = ("val", "test")


@dataclass(frozen=True)
class WholeRowInputs:
    """Files and run-time choices of one row's job (run-time choices never change results)."""

    splits_csv: Path
    manifest_csv: Path
    patch_model: Path
    out_dir: Path
    device: str = "auto"
    workers: int = 0
    activation_checkpointing: bool = False
    # recorded in the model bundle: the converter's intensity mapping, synthetic or real data
    intensity: str = "minmax"
    data: str = "real"


def _score_splits(model, tables, datasets, dev, batch_size: int) -> pd.DataFrame:
    """Predictions of the scored splits with flip TTA (one table)."""
    frames = []
    for split in SCORED_SPLITS:
        loader = make_loader(datasets[split], batch_size, shuffle=False)
        result = evaluate(model, loader, device=dev, tta=True)
        frames.append(prediction_frame(split, result, IMAGE_CLASSES, ids=tables[split]))
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop(columns=["png_path"], errors="ignore")


def build_from_patch_model(
    patch_model_path: Path,
    network: NetworkSettings,
    seed: int,
    activation_checkpointing: bool = False,
) -> torch.nn.Module:
    """The whole-image classifier ``network`` describes (arch, top, sizes, heatmap activation)
    on the patch classifier saved at ``patch_model_path``; the new layers are seeded."""
    patch_model, spec = load_model(patch_model_path)
    if spec.get("kind") != "patch_classifier" or spec.get("arch") != network.arch:
        raise ValueError(
            f"{patch_model_path}: expected a {network.arch} patch classifier, "
            f"found {spec.get('kind')} {spec.get('arch')}"
        )
    torch.manual_seed(seed)  # the new layers' initialisation is part of the run
    model = build_whole_image_classifier(
        patch_model,
        network.arch,
        network.top,
        network.image_size,
        network.patch_size,
        heatmap_activation=network.heatmap_activation,
    )
    model.activation_checkpointing = activation_checkpointing
    return model


def patch_head_entry(patch_model_path: Path, patch_size: int) -> dict:
    """The ``heatmap_head`` bundle entry of the patch classifier saved at ``patch_model_path``."""
    patch_model, _ = load_model(patch_model_path)
    return linear_head_entry(patch_model.head, heatmap_window(int(patch_size)))


def row_spec(network: NetworkSettings) -> dict:
    """The saved spec of the whole-image classifier that ``network`` describes."""
    return whole_image_spec(
        network.arch,
        network.top,
        network.image_size,
        network.patch_size,
        heatmap_activation=network.heatmap_activation,
    )


def write_job_bundle(
    model: torch.nn.Module,
    spec: Mapping[str, Any],
    settings: WholeRowSettings | TransferCellSettings,
    inputs: Any,
    metrics: Mapping[str, Any],
    source: str,
    fallback_head: Mapping[str, Any] | None,
) -> Path:
    """Write a training job's ``model.pt`` as a model bundle (:mod:`e2e_mammo.models.bundle`).

    ``inputs`` is the job's :class:`WholeRowInputs` or ``TransferInputs`` (its files, output
    folder, intensity mapping and data kind); ``fallback_head`` the patch classifier's heatmap
    head, used when the model has no heatmap layer of its own."""
    return save_bundle(
        inputs.out_dir / "model.pt",
        model,
        spec,
        preprocess=preprocess_record(settings.network.image_size, inputs.intensity, model),
        provenance=provenance_record(
            source,
            data=inputs.data,
            settings=to_params(settings),
            data_files={"splits": inputs.splits_csv, "manifest": inputs.manifest_csv},
            metrics=metrics,
        ),
        heatmap=heatmap_head(model, fallback_head),
    )


def _train(ctx: JobContext, settings: WholeRowSettings, inputs: WholeRowInputs) -> JobOutcome:
    tables = image_split_tables(inputs.splits_csv, inputs.manifest_csv)
    network, bs, seed = settings.network, settings.batch_size, settings.seed
    size, workers = network.image_size, inputs.workers
    datasets = {s: WholeImageDataset(t["png_path"], t["label"], size) for s, t in tables.items()}
    model = build_from_patch_model(
        inputs.patch_model, network, seed, inputs.activation_checkpointing
    )
    dev = pick_device(inputs.device)
    train = make_loader(
        datasets["train"], bs, shuffle=True, seed=seed, workers=workers, drop_single=True
    )
    val = make_loader(datasets["val"], bs, shuffle=False, workers=workers)
    result = ctx.fit(model, train, val, fit_config(settings.fit), dev, CHECKPOINT_INTERVAL_S)
    predictions = _score_splits(model, tables, datasets, dev, bs)
    write_predictions(predictions, inputs.out_dir / "predictions.csv")
    metrics = split_metrics(predictions, settings.bootstrap)
    fallback = patch_head_entry(inputs.patch_model, network.patch_size)
    write_job_bundle(model, row_spec(network), settings, inputs, metrics, ctx.name, fallback)
    best = result.best_score if math.isfinite(result.best_score) else None
    extra = {
        "best_epoch": result.best_epoch,
        "best_val_score": best,
        "epochs_trained": result.epochs,
        "monitor": result.monitor,
        **{f"n_{s}": len(datasets[s]) for s in SPLITS},
    }
    return JobOutcome(result.history, metric_scalars(metrics), {**metrics, **extra})


def train_whole_row(
    row_name: str,
    settings: WholeRowSettings,
    inputs: WholeRowInputs,
    meta: Mapping[str, Any],
    *,
    tracking: TrackingConfig,
    threads: int = 1,
) -> dict:
    """Train (or resume an interrupted) Table 2/3 row; write its outputs; return ``result.json``.

    ``meta`` holds the row's fixed, descriptive fields of ``result.json`` (``table``,
    ``section``, ``cells``, ``patch_init``, ``note``); they never change the training.
    """
    torch.set_num_threads(max(1, threads))
    files = (inputs.splits_csv, inputs.manifest_csv, inputs.patch_model)
    table, network, plain = str(meta.get("table", "")), settings.network, to_params(settings)
    tags = {"table": table, "row": row_name, "stage": "whole_image", "status": "ok"}
    job = TrackedJob(
        name=f"table{table}/{row_name}",
        out_dir=inputs.out_dir,
        inputs=files,
        settings=plain,
        tags={**tags, "git_commit": git_commit(), "patch_row": network.patch_row},
        params={**plain, "threads": threads, "workers": inputs.workers},
        datasets=(("splits", inputs.splits_csv),),
        result={
            "row": row_name,
            "arch": network.arch,
            "patch_set": network.patch_set,
            "status": "ok",
            **meta,
            "patch_model": network.patch_row,
        },
    )
    return run_tracked_job(job, tracking, lambda ctx: _train(ctx, settings, inputs))
