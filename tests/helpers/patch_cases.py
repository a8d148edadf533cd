"""Tiny synthetic mammograms, ROI masks and split tables for the patch-set tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.preprocess.patches import SamplingOptions, extract_patch_set

ROWS, COLS, P = 128, 96, 24


@dataclass
class Roi:
    abnormality_id: str
    mask: np.ndarray
    abnormality_type: str = "mass"
    pathology: str = "MALIGNANT"


@dataclass
class Img:
    image_id: str
    split: str | None = "train"
    rois: list[Roi] = field(default_factory=list)
    patient_id: str = ""


def square(y: int, x: int, side: int) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    mask[y : y + side, x : x + side] = 255
    return mask


def disc(cy: int, cx: int, radius: int) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.circle(mask, (cx, cy), radius, 255, thickness=-1)
    return mask


def ring(cy: int, cx: int, radius: int) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.circle(mask, (cx, cy), radius, 255, thickness=1)
    return mask


def breast_image(seed: int) -> np.ndarray:
    """A dark noisy background with a bright elliptic breast on the left (uint16)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 400, size=(ROWS, COLS)).astype(np.uint16)
    breast = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(breast, (30, ROWS // 2), (62, 60), 0, 0, 360, 255, thickness=-1)
    tissue = rng.integers(20000, 40000, size=(ROWS, COLS)).astype(np.uint16)
    image[breast > 0] = tissue[breast > 0]
    return image


def write_inputs(tmp_path: Path, images: list[Img]) -> tuple[Path, Path, Path]:
    """PNGs and masks under ``tmp_path/png``; returns manifest, masks and splits CSVs."""
    (tmp_path / "png").mkdir(exist_ok=True)
    man, msk, spl = [], [], []
    for n, img in enumerate(images):
        png = tmp_path / "png" / f"{img.image_id}.png"
        cv2.imwrite(str(png), breast_image(n))
        patient = img.patient_id or f"P{n}"
        man.append(
            {
                "image_id": img.image_id,
                "patient_id": patient,
                "label": 0,
                "png_path": str(png),
                "rows": ROWS,
                "cols": COLS,
            }
        )
        if img.split is not None:
            spl.append(
                {"image_id": img.image_id, "patient_id": patient, "split": img.split, "label": 0}
            )
        for roi in img.rois:
            path = tmp_path / "png" / f"{img.image_id}_{roi.abnormality_id}_mask.png"
            cv2.imwrite(str(path), roi.mask)
            msk.append(
                {
                    "image_id": img.image_id,
                    "abnormality_id": roi.abnormality_id,
                    "abnormality_type": roi.abnormality_type,
                    "pathology": roi.pathology,
                    "mask_png_path": str(path),
                }
            )
    paths = tmp_path / "manifest.csv", tmp_path / "masks.csv", tmp_path / "splits.csv"
    pd.DataFrame(man).to_csv(paths[0], index=False)
    pd.DataFrame(
        msk,
        columns=["image_id", "abnormality_id", "abnormality_type", "pathology", "mask_png_path"],
    ).to_csv(paths[1], index=False)
    pd.DataFrame(spl, columns=["image_id", "patient_id", "split", "label"]).to_csv(
        paths[2], index=False
    )
    return paths


def run_patch_set(tmp_path: Path, images: list[Img], name: str = "S10", out: str = "out", **kwargs):
    """Write the inputs and sample patch set ``name`` (S1: 1+1 per ROI, else 10+10)."""
    manifest, masks, splits = write_inputs(tmp_path, images)
    n = 1 if name == "S1" else 10
    progress = kwargs.pop("progress", False)
    options = SamplingOptions(**({"patch_size": P, "n_roi": n, "n_background": n} | kwargs))
    result = extract_patch_set(manifest, masks, splits, tmp_path / out, name, options, progress)
    return result, tmp_path / out


def mask_of(images: list[Img], image_id: str, abnormality_id: str) -> np.ndarray:
    img = next(i for i in images if i.image_id == image_id)
    return next(r.mask for r in img.rois if r.abnormality_id == abnormality_id) > 0


def box_of(mask: np.ndarray, row: pd.Series) -> np.ndarray:
    return mask[row["y0"] : row["y1"], row["x0"] : row["x1"]]


def ratio_of(mask: np.ndarray, row: pd.Series) -> float:
    inter = float(np.count_nonzero(box_of(mask, row)))
    return max(inter / (P * P), inter / np.count_nonzero(mask))
