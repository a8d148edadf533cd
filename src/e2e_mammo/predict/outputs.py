"""What ``e2e-mammo predict`` writes: the tables (NYU mammography meta-repository schemas), the
heatmap overlays, the failures and the summary.

* ``image_predictions.csv``: one row per scored image: ``image_index`` (the image's path below
  its input folder, no extension: the meta-repository's image id), ``file``, ``exam``,
  ``laterality``, ``view``, ``malignant_pred`` (the bundle's malignant probability, flip-averaged
  unless ``--no-tta``), ``heatmap`` (the overlay, relative to the output folder) and
  ``heatmap_max``.
* ``breast_predictions.csv`` (when some laterality is known): one row per exam, ``exam``,
  ``left_malignant``, ``right_malignant`` (the mean over the breast's images, empty when the exam
  has no image of that side: the meta-repository's breast-level columns), ``n_left``,
  ``n_right``.
* ``heatmaps/<image_index>.png``: the image (8-bit grey, the model's input size) with the
  malignancy heatmap (malignant mass + calcification probability, 0-1, ``jet``) blended over it.
* ``failures.csv``: ``file``, ``step``, ``reason`` for every input not scored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.io import atomic_write_bytes, atomic_write_csv

IMAGE_COLUMNS = (
    "image_index",
    "file",
    "exam",
    "laterality",
    "view",
    "malignant_pred",
    "heatmap",
    "heatmap_max",
)
BREAST_COLUMNS = ("exam", "left_malignant", "right_malignant", "n_left", "n_right")
FAILURE_COLUMNS = ("file", "step", "reason")
HEATMAP_DIR = "heatmaps"
#: Weight of the heatmap colour over the grey image.
OVERLAY_ALPHA = 0.4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def heatmap_name(image_index: str) -> str:
    """The overlay's file name below ``heatmaps/``: the index with unsafe characters replaced."""
    return f"{HEATMAP_DIR}/{_UNSAFE.sub('_', image_index.replace('/', '__'))}.png"


def overlay(pixels: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """An 8-bit BGR picture: ``pixels`` (uint16 grey) with ``heatmap`` ((h, w) in [0, 1])
    upsampled bilinearly to its size, coloured with ``jet`` and blended at ``OVERLAY_ALPHA``."""
    grey = cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)
    rows, cols = grey.shape
    heat = cv2.resize(heatmap.astype(np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR)
    heat8 = cv2.convertScaleAbs(np.clip(heat, 0.0, 1.0), alpha=255.0)
    colour = cv2.applyColorMap(heat8, cv2.COLORMAP_JET)
    return cv2.addWeighted(
        colour, OVERLAY_ALPHA, cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 1.0 - OVERLAY_ALPHA, 0.0
    )


def write_overlay(path: Path, pixels: np.ndarray, heatmap: np.ndarray) -> Path:
    """Write :func:`overlay` as a PNG atomically (OpenCV's default PNG settings: the fastest
    measured, see bench/README.md on ``convert``)."""
    ok, encoded = cv2.imencode(".png", overlay(pixels, heatmap))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    return atomic_write_bytes(encoded.tobytes(), path)


def breast_table(images: pd.DataFrame) -> pd.DataFrame:
    """Breast-level scores: per exam, the mean ``malignant_pred`` of each side's images."""
    known = images[images["laterality"].isin(["L", "R"])]
    rows = []
    for exam, group in known.groupby("exam", sort=False):
        left = group.loc[group["laterality"] == "L", "malignant_pred"]
        right = group.loc[group["laterality"] == "R", "malignant_pred"]
        rows.append(
            {
                "exam": exam,
                "left_malignant": left.mean() if len(left) else np.nan,
                "right_malignant": right.mean() if len(right) else np.nan,
                "n_left": len(left),
                "n_right": len(right),
            }
        )
    return pd.DataFrame(rows, columns=list(BREAST_COLUMNS))


def write_tables(
    out_dir: Path, images: Sequence[dict], failures: Sequence[dict]
) -> dict[str, Path]:
    """Write the image, breast (when any laterality is known) and failure tables."""
    frame = pd.DataFrame(list(images), columns=list(IMAGE_COLUMNS))
    written = {"image_predictions": atomic_write_csv(frame, out_dir / "image_predictions.csv")}
    breasts = breast_table(frame)
    path = out_dir / "breast_predictions.csv"
    if len(breasts):
        written["breast_predictions"] = atomic_write_csv(breasts, path)
    elif path.exists():
        path.unlink()  # a table from an earlier run would describe other images
    fails = pd.DataFrame(list(failures), columns=list(FAILURE_COLUMNS))
    written["failures"] = atomic_write_csv(fails, out_dir / "failures.csv")
    return written
