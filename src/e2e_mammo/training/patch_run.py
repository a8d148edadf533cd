"""One row of Table 1: train a patch classifier on a patch set and report its test accuracy.

The row's settings come from params.yaml (``table1`` entry + ``patch_training`` +
``pretrained``). The job is one MLflow run (tags ``table=1``, ``row``, ``stage=patch``, git
commit, data-manifest hash; per-epoch ``train_loss``, ``train_accuracy``, ``val_loss``,
``val_accuracy``, ``lr`` with ``step=epoch``; final ``test_accuracy``, ``best_epoch``,
``best_val_accuracy``; the learning curves as artifacts). Its outcome is written to
``result.json`` for the table, including rows that could not run.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2e_mammo.constants import SPLITS
from e2e_mammo.errors import DatasetError
from e2e_mammo.io import atomic_write_bytes, atomic_write_csv
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.pretrained import MissingWeightsError, imagenet_weights_path
from e2e_mammo.reporting.curves import plot_learning_curves
from e2e_mammo.tracking import TrackingConfig, files_hash, git_commit, start_run
from e2e_mammo.training.augment import AugmentConfig
from e2e_mammo.training.checkpoint import CheckpointConfigError
from e2e_mammo.training.loop import fit
from e2e_mammo.training.staged import Stage, schedule_from_config, total_epochs

log = logging.getLogger(__name__)
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")


@dataclass(frozen=True)
class PretrainedChoice:
    """How a row is initialised: ``init`` is what runs, ``label`` what Table 1 shows."""

    init: str  # "imagenet" | "none"
    label: str  # "Y", "N", or "N (demo override; paper Y)"
    weights: Path | None = None
    skip_reason: str | None = None


def choose_pretrained(row: Mapping[str, Any], cfg: Mapping[str, Any]) -> PretrainedChoice:
    """Apply ``pretrained.override`` and find ImageNet weights for a row that asks for them.

    A missing weight file gives a ``skip_reason`` (``on_missing: skip``) or raises
    :class:`MissingWeightsError` with the exact file and folder (``on_missing: fail``).
    """
    asked = row["pretrained"]
    paper_label = "Y" if asked == "imagenet" else "N"
    if cfg.get("override") == "none":
        label = "N" if asked == "none" else f"N (demo override; paper {paper_label})"
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
    patch_set: str, init: str, schedules: Mapping[str, Any], epoch_scale: float
) -> list[Stage]:
    """The row's staged schedule (``pretrained_s10``, ``random_s1``, ...) with epochs scaled."""
    kind = "pretrained" if init == "imagenet" else "random"
    name = f"{kind}_{patch_set.lower()}"
    stages = schedules.get(name) or schedules[f"{kind}_s10"]
    scaled = [dict(s, epochs=max(1, int(round(s["epochs"] * epoch_scale)))) for s in stages]
    return schedule_from_config(scaled)


def load_patch_split(patches_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The (N,1,P,P) uint16 patches (memory-mapped) and int64 class labels of one split."""
    array_path, index_path = patches_dir / f"{split}.npy", patches_dir / f"{split}.csv"
    for path in (array_path, index_path):
        if not path.is_file():
            raise DatasetError(path, f"patch set file missing for split {split!r}")
    images = np.load(array_path, mmap_mode="r")
    labels = pd.read_csv(index_path, usecols=["class"])["class"].to_numpy(np.int64)
    if len(images) != len(labels):
        raise DatasetError(index_path, f"{len(labels)} index rows for {len(images)} patches")
    if len(labels) == 0:
        raise DatasetError(index_path, f"split {split!r} has no patches")
    return images[:, None, :, :], labels


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _write_result(out_dir: Path, result: dict) -> dict:
    atomic_write_bytes((json.dumps(result, indent=2) + "\n").encode(), out_dir / "result.json")
    return result


def train_patch_row(
    row: Mapping[str, Any],
    patches_dir: Path,
    mean_json: Path,
    out_dir: Path,
    *,
    training: Mapping[str, Any],
    pretrained: Mapping[str, Any],
    tracking: TrackingConfig,
    threads: int = 1,
    device: str = "auto",
) -> dict:
    """Train (or resume) one Table 1 row; write ``result.json``, ``history.csv``, curves.

    Returns the result dict (``status`` ``ok`` or ``not run`` with a ``note`` saying why).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, threads))
    choice = choose_pretrained(row, pretrained)
    base = {
        "row": row["row"],
        "arch": row["arch"],
        "patch_set": row["patch_set"],
        "pretrained_asked": row["pretrained"],
        "pretrained_label": choice.label,
        "paper_accuracy": row.get("paper_accuracy"),
        "paper_best_epoch": row.get("paper_best_epoch"),
    }
    if choice.skip_reason:
        # still one MLflow run per row, so the UI lists every row of the table with its reason
        log.warning("row %s not run: %s", row["row"], choice.skip_reason)
        tags = {
            "table": "1",
            "row": row["row"],
            "stage": "patch",
            "status": "not run",
            "git_commit": git_commit(),
        }
        with start_run(tracking, f"table1/{row['row']}", tags=tags) as run:
            run.log_params(
                {
                    "arch": row["arch"],
                    "patch_set": row["patch_set"],
                    "pretrained": choice.label,
                    "note": choice.skip_reason,
                }
            )
        return _write_result(
            out_dir,
            {**base, "status": "not run", "note": choice.skip_reason, "mlflow_run_id": run.run_id},
        )

    data = {split: load_patch_split(patches_dir, split) for split in SPLITS}
    mean = float(json.loads(Path(mean_json).read_text())["mean"])
    schedule = row_schedule(
        row["patch_set"], choice.init, training["schedules"], training["epoch_scale"]
    )
    top_blocks = list(training["top_blocks"].get(row["arch"], []))
    torch.manual_seed(training["seed"])  # the random initialisation is part of the seeded run
    model = build_patch_classifier(row["arch"], pretrained=choice.init, weights_path=choice.weights)
    dev = pick_device(device)
    tags = {
        "table": "1",
        "row": row["row"],
        "stage": "patch",
        "git_commit": git_commit(),
        "data_hash": files_hash(patches_dir / f"{s}.csv" for s in SPLITS),
        "device": str(dev),
        "init": choice.init,
        "status": "ok",
    }
    params = {
        "arch": row["arch"],
        "patch_set": row["patch_set"],
        "pretrained": choice.label,
        "mean": mean,
        "batch_size": training["batch_size"],
        "seed": training["seed"],
        "epoch_scale": training["epoch_scale"],
        "schedule": [f"{s.name}:{s.trainable}:{s.lr:g}x{s.epochs}" for s in schedule],
        "top_blocks": top_blocks,
        "augment": dict(training["augment"]),
        "n_train": len(data["train"][1]),
        "n_val": len(data["val"][1]),
        "n_test": len(data["test"][1]),
        "threads": threads,
    }
    with start_run(tracking, f"table1/{row['row']}", tags=tags) as run:
        run.log_params(params)
        logged: set[int] = set()
        n_epochs = total_epochs(schedule)
        log.info(
            "%s: %d epochs on %s, %d training patches", row["row"], n_epochs, dev, params["n_train"]
        )

        def log_epoch(record: dict) -> None:
            run.log_metrics({k: record[k] for k in EPOCH_METRICS}, step=record["epoch"])
            logged.add(record["epoch"])
            log.info(
                "epoch %d/%d (%s, lr %g): train loss %.4f acc %.4f | val loss %.4f acc %.4f",
                record["epoch"],
                n_epochs,
                record["stage"],
                record["lr"],
                record["train_loss"],
                record["train_accuracy"],
                record["val_loss"],
                record["val_accuracy"],
            )

        fit_args = dict(
            train=data["train"],
            val=data["val"],
            test=data["test"],
            schedule=schedule,
            top_blocks=top_blocks,
            batch_size=training["batch_size"],
            mean=mean,
            augment_cfg=AugmentConfig.from_dict(training["augment"]),
            seed=training["seed"],
            device=dev,
            checkpoint_dir=out_dir / "checkpoints",
            on_epoch=log_epoch,
            config={"arch": row["arch"], "patch_set": row["patch_set"], "init": choice.init},
            channels_last=True,
            amp=True,
        )
        try:
            result = fit(model, **fit_args)
        except CheckpointConfigError as exc:
            # the parameters changed since the checkpoint: a new run, not a resume
            log.warning("%s; starting afresh", exc)
            shutil.rmtree(out_dir / "checkpoints")
            result = fit(model, **fit_args)
        for record in result.history:  # epochs done before a resume, logged by an earlier job
            if record["epoch"] not in logged:
                log_epoch(record)
        history = pd.DataFrame(result.history)
        atomic_write_csv(history, out_dir / "history.csv")
        plot_learning_curves(history, out_dir / "learning_curves.png", title=row["row"])
        final = {
            "test_accuracy": result.test_accuracy,
            "test_loss": result.test_loss,
            "best_epoch": result.best_epoch,
            "best_val_accuracy": result.best_val_accuracy,
        }
        run.log_metrics(final)
        run.log_artifact(out_dir / "history.csv")
        run.log_artifact(out_dir / "learning_curves.png")
    torch.save(model.state_dict(), out_dir / "model.pt")
    note = ""
    if choice.label.startswith("N (demo"):
        note = "random initialisation (pretrained.override: none); the paper used ImageNet weights"
    return _write_result(
        out_dir,
        {
            **base,
            **final,
            "status": "ok",
            "epochs_trained": total_epochs(schedule),
            "n_train": params["n_train"],
            "n_test": params["n_test"],
            "mlflow_run_id": run.run_id,
            "note": note,
        },
    )
