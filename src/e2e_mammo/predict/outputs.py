"""What ``e2e-mammo predict`` writes: the tables (NYU mammography meta-repository schemas), the
heatmap overlays, the failures and the summary.

* ``image_predictions.csv``: one row per scored image: ``image_index`` (the image's path below
  its input folder, no extension: the meta-repository's image id), ``file``, ``exam``,
  ``laterality``, ``view``, ``malignant_pred`` (the bundle's malignant probability, flip-averaged
  unless ``--no-tta``), ``heatmap`` (the overlay, relative to the output folder),
  ``heatmap_max``, ``burned_in_annotation`` (``YES`` when the DICOM header says the pixels carry
  burned-in text: the overlay may show it) and ``model_data`` (``synthetic`` or ``real``: what
  the model was trained on, so that a CSV passed along cannot be mistaken).
* ``breast_predictions.csv`` (when some laterality is known): one row per exam, ``exam``,
  ``left_malignant``, ``right_malignant`` (the mean over the breast's images, empty when the exam
  has no image of that side: the meta-repository's breast-level columns), ``n_left``,
  ``n_right``.
* ``heatmaps/<image_index>.png``: the image (8-bit grey, the model's input size) with the
  malignancy heatmap (malignant mass + calcification probability, 0-1, ``jet``) blended over it,
  each heatmap cell at the centre of the patch it scores.
* ``failures.csv``: ``file``, ``step``, ``reason`` for every input not scored.
* ``ignored.csv``: ``file``, ``reason`` for DICOM objects that are not images (a CD's
  ``DICOMDIR``, structured reports, presentation states, key object selections).

Every CSV is spreadsheet-safe: a cell starting with ``= + - @``, a tab or a carriage return
(a file named ``=HYPERLINK(...).png``, say) is written with a leading ``'``, so a spreadsheet
shows it as text instead of running it (:func:`e2e_mammo.io.escape_cell`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.evaluation.localisation import heatmap_on_image
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
    "burned_in_annotation",
    "model_data",
)
BREAST_COLUMNS = ("exam", "left_malignant", "right_malignant", "n_left", "n_right")
FAILURE_COLUMNS = ("file", "step", "reason")
IGNORED_COLUMNS = ("file", "reason")
#: The tables of a run (removed when a new run starts: the journal rebuilds them).
TABLE_FILES = (
    "image_predictions.csv",
    "breast_predictions.csv",
    "failures.csv",
    "ignored.csv",
)
HEATMAP_DIR = "heatmaps"
#: Weight of the heatmap colour over the grey image.
OVERLAY_ALPHA = 0.4
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest overlay file name stem kept as it is.
MAX_NAME = 120


def heatmap_name(image_index: str) -> str:
    """The overlay's file name below ``heatmaps/``: the index itself when it is a safe, short
    file name, else a safe shortened form plus a hash of the index (so names never collide)."""
    safe = _UNSAFE.sub("_", image_index.replace("/", "__")).lstrip("-")
    if safe != image_index or len(safe) > MAX_NAME:
        digest = hashlib.sha256(image_index.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        safe = f"{safe[:MAX_NAME]}-{digest}"
    return f"{HEATMAP_DIR}/{safe}.png"


def overlay(pixels: np.ndarray, heatmap: np.ndarray, window: int = 1) -> np.ndarray:
    """An 8-bit BGR picture: ``pixels`` (uint16 grey) with ``heatmap`` ((h, w) in [0, 1]) placed
    on the image (:func:`heatmap_on_image`), coloured with ``jet`` and blended at
    ``OVERLAY_ALPHA``."""
    grey = cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)
    heat = heatmap_on_image(heatmap, grey.shape, window)
    heat8 = cv2.convertScaleAbs(np.clip(heat, 0.0, 1.0), alpha=255.0)
    colour = cv2.applyColorMap(heat8, cv2.COLORMAP_JET)
    grey_bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(colour, OVERLAY_ALPHA, grey_bgr, 1.0 - OVERLAY_ALPHA, 0.0)


def write_overlay(path: Path, pixels: np.ndarray, heatmap: np.ndarray, window: int = 1) -> Path:
    """Write :func:`overlay` as a PNG atomically (OpenCV's default PNG settings: the fastest
    measured, see bench/README.md on ``convert``)."""
    ok, encoded = cv2.imencode(".png", overlay(pixels, heatmap, window))
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
    path = out_dir / "image_predictions.csv"
    written = {"image_predictions": atomic_write_csv(frame, path, safe=True)}
    breasts = breast_table(frame)
    path = out_dir / "breast_predictions.csv"
    if len(breasts):
        written["breast_predictions"] = atomic_write_csv(breasts, path, safe=True)
    elif path.exists():
        path.unlink()  # a table from an earlier run would describe other images
    fails = pd.DataFrame(list(failures), columns=list(FAILURE_COLUMNS))
    written["failures"] = atomic_write_csv(fails, out_dir / "failures.csv", safe=True)
    return written


def write_ignored(out_dir: Path, ignored: Sequence[dict]) -> Path:
    """Write ``ignored.csv``: the DICOM objects that are no images, each with its reason."""
    frame = pd.DataFrame(list(ignored), columns=list(IGNORED_COLUMNS))
    return atomic_write_csv(frame, out_dir / "ignored.csv", safe=True)
