"""Tiny DICOM datasets for the convert-stage tests (test_convert*.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.preprocess.convert.stage import convert_dataset

SIZE = (32, 24)  # (height, width) of the output PNGs


def image_pixels(seed: int) -> np.ndarray:
    """The 64x48 16-bit pixels of image ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(100, 4000, size=(64, 48), dtype=np.uint16)


def mask_pixels(shape=(64, 48), box=(slice(8, 40), slice(8, 32))) -> np.ndarray:
    """An 8-bit 0/255 mask with ``box`` set."""
    m = np.zeros(shape, np.uint8)
    m[box] = 255
    return m


def make_dataset(tmp_path: Path, n: int = 3, rois: bool = True) -> tuple[Path, Path | None]:
    """n images (64x48, 16-bit) + one ROI each; ROI of image 1 has a smaller mask (32x24)."""
    src = tmp_path / "src"
    img_rows, roi_rows = [], []
    for i in range(n):
        image_id = f"Calc-Training_P_{i:05d}_LEFT_CC"
        dcm = write_dicom(
            src / f"{image_id}.dcm", image_pixels(i), DicomHeader(patient_id=image_id)
        )
        img_rows.append(
            {
                "image_id": image_id,
                "patient_id": f"P_{i:05d}",
                "laterality": "L",
                "view": "CC",
                "label": i % 2,
                "split": "train",
                "dicom_path": str(dcm),
                "dataset": "cbis",
                "extra_col": f"x{i}",
            }
        )
        shape = (32, 24) if i == 1 else (64, 48)
        box = (slice(4, 20), slice(4, 16)) if i == 1 else (slice(8, 40), slice(8, 32))
        mask = write_dicom(
            src / f"{image_id}_1_mask.dcm",
            mask_pixels(shape, box),
            DicomHeader(patient_id=image_id),
        )
        roi_rows.append(
            {
                "image_id": image_id,
                "abnormality_id": 1,
                "abnormality_type": "calcification",
                "pathology": "BENIGN",
                "mask_path": str(mask),
                "crop_path": "",
            }
        )
    images_csv = tmp_path / "images.csv"
    pd.DataFrame(img_rows).to_csv(images_csv, index=False)
    rois_csv = None
    if rois:
        rois_csv = tmp_path / "rois.csv"
        pd.DataFrame(roi_rows).to_csv(rois_csv, index=False)
    return images_csv, rois_csv


def run_convert(images_csv, out, **kw):
    """convert_dataset at :data:`SIZE`, quiet, unless ``kw`` says otherwise."""
    kw.setdefault("size", SIZE)
    kw.setdefault("progress", False)
    return convert_dataset(images_csv, out, **kw)


def read_png(path) -> np.ndarray:
    """A PNG as stored."""
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
