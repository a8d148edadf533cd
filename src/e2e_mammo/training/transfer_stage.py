"""Transfer learning on INbreast (paper section 3.2): one cell of Table 4.

A cell is a model, a training-subset size and a seed. The model starts from

* ``whole_image``: a CBIS-DDSM whole-image classifier (a Table 2/3 row's ``model.pt``; the
  paper fine-tunes its four best), or
* ``patch_only``: the control, the same row's architecture built afresh on its patch classifier
  (new top layers, seeded), so the difference is exactly the CBIS-DDSM whole-image training.

Both are fine-tuned the same way, with image labels only (INbreast's ROI annotations are never
read): Adam at 1e-5 with weight decay 0.01 for 200 epochs at paper scale, all layers, the
patch stage's augmentation, weight decay and batch-norm handling of the whole-image stage
(``whole_image.decay``, ``whole_image.patch_bn``), and INbreast's own training-set mean in the
model's input transform.

The subset is a nested, stratified patient subset of INbreast's training split
(:mod:`e2e_mammo.preprocess.subsets`) drawn with the cell's seed. The paper reports AUCs on the
validation set, so nothing is chosen on it: with ``select: last`` (default) the cell trains the
fixed number of epochs and keeps the last, and no set is scored during training; with
``select: inner_val`` a stratified ``inner_val_frac`` of the subset's patients is held out of
training and the epoch with the best AUC on them is kept. The validation set is scored once at
the end (with flip TTA when ``tta``: the fine-tuned cells whose models form the INbreast
ensemble) into ``predictions.csv``; ``result.json`` holds its AUC (and A-AUC) with 95%
patient-level bootstrap intervals and the subset's patient and image counts; ``subset.csv``
lists the images used.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2e_mammo.constants import IMAGE_CLASSES
from e2e_mammo.data import WholeImageDataset, make_loader
from e2e_mammo.data.whole_images import image_split_tables
from e2e_mammo.evaluation.bootstrap import prediction_auc
from e2e_mammo.evaluation.predictions import prediction_frame, write_predictions
from e2e_mammo.evaluation.split_metrics import A_SCORE, SCORE
from e2e_mammo.io import atomic_write_csv
from e2e_mammo.models.input_transform import InputNormalization
from e2e_mammo.models.saved import load_model, read_payload
from e2e_mammo.plan.settings import to_params
from e2e_mammo.plan.transfer_cells import TransferCellSettings
from e2e_mammo.preprocess.splits import holdout_patients, patient_labels
from e2e_mammo.preprocess.subsets import subset_counts, subset_images
from e2e_mammo.provenance import git_commit
from e2e_mammo.tracking import TrackingConfig
from e2e_mammo.training.devices import pick_device
from e2e_mammo.training.fit import fit_config
from e2e_mammo.training.job import JobContext, JobOutcome, TrackedJob, run_tracked_job
from e2e_mammo.training.loop import evaluate
from e2e_mammo.training.whole_stage import (
    build_from_patch_model,
    patch_head_entry,
    row_spec,
    write_job_bundle,
)

log = logging.getLogger(__name__)
CHECKPOINT_INTERVAL_S = 60.0
#: The reported split: INbreast's 30% held-out patients (the paper's "validation set").
REPORTED_SPLIT = "val"


@dataclass(frozen=True)
class TransferInputs:
    """Files and run-time choices of one cell (run-time choices never change results).

    ``init_model`` is the CBIS-DDSM whole-image ``model.pt`` (``whole_image``) or the patch
    classifier's (``patch_only``); ``mean_json`` INbreast's training-set mean.
    """

    splits_csv: Path
    manifest_csv: Path
    mean_json: Path
    init_model: Path
    out_dir: Path
    device: str = "auto"
    workers: int = 0
    # recorded in the model bundle: the converter's intensity mapping, synthetic or real data
    intensity: str = "minmax"
    data: str = "real"


def _start_model(settings: TransferCellSettings, inputs: TransferInputs, mean: float):
    """The model a cell fine-tunes, with INbreast's mean in its input transform, and its spec."""
    if settings.init == "whole_image":
        model, spec = load_model(inputs.init_model)
        if spec.get("kind") != "whole_image_classifier":
            raise ValueError(
                f"{inputs.init_model}: expected a whole-image classifier, found {spec.get('kind')}"
            )
    else:
        model = build_from_patch_model(inputs.init_model, settings.network, settings.seed)
        spec = row_spec(settings.network)
    transforms = [m for m in model.modules() if isinstance(m, InputNormalization)]
    if not transforms:
        raise ValueError(f"{inputs.init_model}: the model has no input transform to set a mean in")
    for transform in transforms:
        transform.set_mean(mean)
    return model, spec


def _init_heatmap_head(settings: TransferCellSettings, inputs: TransferInputs) -> dict | None:
    """The patch classifier's head the starting model carries (for the bundle's heatmap)."""
    if settings.init == "whole_image":
        return read_payload(inputs.init_model).get("heatmap_head")
    return patch_head_entry(inputs.init_model, settings.network.patch_size)


def training_images(
    train: pd.DataFrame, settings: TransferCellSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(images trained on, inner validation images) of a cell: its subset of the training split,
    less the inner validation patients when ``select`` is ``inner_val`` (else none)."""
    subset = subset_images(train, settings.size, settings.seed, settings.reference_patients)
    if settings.select != "inner_val":
        return subset, subset.iloc[0:0]
    rng = np.random.default_rng([settings.seed, 1])
    inner = holdout_patients(patient_labels(subset), settings.inner_val_frac, rng)
    held = subset["patient_id"].isin(inner)
    return subset[~held].reset_index(drop=True), subset[held].reset_index(drop=True)


def reported_metrics(predictions: pd.DataFrame, bootstrap: Mapping[str, Any]) -> dict[str, Any]:
    """AUC and (with TTA) A-AUC on the reported split, each with a 95% patient-level interval."""
    out: dict[str, Any] = {}
    for name, column in (("auc", SCORE), ("a_auc", A_SCORE)):
        if column not in predictions or predictions.empty:
            continue
        stats = prediction_auc(
            predictions, column, int(bootstrap["n_boot"]), int(bootstrap["seed"])
        )
        out.update({f"val_{name}{suffix}": stats[key] for key, suffix in CI_KEYS})
    return out


#: (prediction_auc key, result suffix)
CI_KEYS = (("auc", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high"))
#: The final metrics of every cell's MLflow run.
TABLE4_KEYS = ("val_auc", "val_auc_ci_low", "val_auc_ci_high")


def _subset_table(used: pd.DataFrame, inner: pd.DataFrame) -> pd.DataFrame:
    parts = [used.assign(role="train"), inner.assign(role="inner_val")]
    frame = pd.concat(parts, ignore_index=True)
    return frame[["image_id", "patient_id", "label", "role"]]


def _train(ctx: JobContext, settings: TransferCellSettings, inputs: TransferInputs) -> JobOutcome:
    tables = image_split_tables(inputs.splits_csv, inputs.manifest_csv)
    used, inner = training_images(tables["train"], settings)
    reported = tables[REPORTED_SPLIT]
    if reported.empty:
        raise ValueError(f"{inputs.splits_csv}: INbreast has no {REPORTED_SPLIT!r} images")
    atomic_write_csv(_subset_table(used, inner), inputs.out_dir / "subset.csv", safe=True)
    mean = float(json.loads(Path(inputs.mean_json).read_text())["mean"])
    model, spec = _start_model(settings, inputs, mean)
    size, bs = settings.network.image_size, settings.batch_size
    data = {
        name: WholeImageDataset(t["png_path"], t["label"], size)
        for name, t in (("train", used), ("inner", inner), ("reported", reported))
    }
    dev, workers = pick_device(inputs.device), inputs.workers
    train = make_loader(
        data["train"], bs, shuffle=True, seed=settings.seed, workers=workers, drop_single=True
    )
    inner_loader = make_loader(data["inner"], bs, shuffle=False) if len(inner) else None
    cfg = fit_config(settings.fit)
    result = ctx.fit(model, train, inner_loader, cfg, dev, CHECKPOINT_INTERVAL_S)
    scored = evaluate(
        model, make_loader(data["reported"], bs, shuffle=False), device=dev, tta=settings.tta
    )
    predictions = prediction_frame(REPORTED_SPLIT, scored, IMAGE_CLASSES, ids=reported)
    predictions = predictions.drop(columns=["png_path"], errors="ignore")
    write_predictions(predictions, inputs.out_dir / "predictions.csv")
    metrics = reported_metrics(predictions, settings.bootstrap)
    head = _init_heatmap_head(settings, inputs)
    write_job_bundle(model, spec, settings, inputs, metrics, ctx.name, head)
    extra = {
        **subset_counts(used),
        "n_inner_val_images": int(len(inner)),
        "n_val_images": int(len(reported)),
        "best_epoch": result.best_epoch,
        "epochs_trained": result.epochs,
        "select": settings.select,
        "inbreast_mean": mean,
    }
    # every cell's run logs Table 4's keys; the A-AUC (ensemble-size cells only) stays in
    # result.json, so that MLflow lines the cells up
    scalars = {k: v for k, v in metrics.items() if v is not None and k in TABLE4_KEYS}
    return JobOutcome(result.history, scalars, {**metrics, **extra})


def fine_tune_cell(
    model_name: str,
    settings: TransferCellSettings,
    inputs: TransferInputs,
    *,
    tracking: TrackingConfig,
    threads: int = 1,
) -> dict:
    """Fine-tune (or resume) one Table 4 cell; write its outputs; return ``result.json``."""
    torch.set_num_threads(max(1, threads))
    init, size, seed, network = settings.init, settings.size, settings.seed, settings.network
    plain = to_params(settings)
    files = (inputs.splits_csv, inputs.manifest_csv, inputs.mean_json, inputs.init_model)
    tags = {
        "table": "4",
        "row": model_name,
        "stage": "transfer",
        "init": init,
        "size": size,
        "seed": str(seed),
        "status": "ok",
        "git_commit": git_commit(),
    }
    job = TrackedJob(
        name=f"table4/{init}/{model_name}/n{size}-s{seed}",
        out_dir=inputs.out_dir,
        inputs=files,
        settings=plain,
        tags=tags,
        params={**plain, "threads": threads, "workers": inputs.workers},
        datasets=(("splits", inputs.splits_csv),),
        result={
            "row": model_name,
            "arch": network.arch,
            "top": dict(network.top),
            "patch_row": network.patch_row,
            "init": init,
            "size": size,
            "seed": seed,
            "status": "ok",
        },
    )
    return run_tracked_job(job, tracking, lambda ctx: _train(ctx, settings, inputs))
