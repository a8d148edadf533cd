"""A tiny whole-image dataset on disk: PNGs, splits.csv and manifest.csv (as the pipeline's)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.saved import save_model

SIZE = (64, 48)
SPLIT_SIZES = {"train": 8, "val": 4, "test": 6}


def write_image_dataset(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Images with a bright blob when malignant; two images per patient; returns (splits,
    manifest)."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in SPLIT_SIZES.items():
        for i in range(n):
            label = i % 2
            image = rng.integers(5000, 15000, SIZE).astype(np.uint16)
            if label:
                y, x = rng.integers(10, 40), rng.integers(10, 30)
                image[y : y + 12, x : x + 12] = 60000
            image_id = f"{split}_{i}"
            path = folder / f"{image_id}.png"
            cv2.imwrite(str(path), image)
            patient = f"P_{split}_{i // 2}"
            rows.append((image_id, patient, split, label, str(path)))
    frame = pd.DataFrame(rows, columns=["image_id", "patient_id", "split", "label", "png_path"])
    splits, manifest = folder / "splits.csv", folder / "manifest.csv"
    frame.drop(columns=["png_path"]).to_csv(splits, index=False)
    frame[["image_id", "patient_id", "png_path"]].to_csv(manifest, index=False)
    return splits, manifest


def write_patch_model(path: Path, arch: str = "resnet50") -> Path:
    """A random-init patch classifier saved as the patch stage saves one."""
    model = build_patch_classifier(arch, mean=30.0)
    spec = {"arch": arch, "n_classes": 5, "class_names": []}
    return save_model(path, model, "patch_classifier", spec)


#: A params.yaml ``whole_image`` block for tests (the paper's schedule, a small bootstrap).
WHOLE_PARAMS = {
    "rows": "all",
    "batch_size": 2,
    "accumulate": 1,
    "seed": 1,
    "epoch_scale": 0.1,
    "schedule": [
        {"name": "top_layers", "trainable": "head", "lr": 1e-4, "weight_decay": 1e-3, "epochs": 30},
        {"name": "all_layers", "trainable": "all", "lr": 1e-5, "weight_decay": 1e-2, "epochs": 20},
    ],
    "extension": None,
    "monitor": "val_auc",
    "decay": "head_kernels",
    "patch_bn": "fixed",
    "heatmap_activation": "relu",
    "bootstrap": {"n_boot": 50, "seed": 0},
    "workers": 2,
    "activation_checkpointing": True,
}
