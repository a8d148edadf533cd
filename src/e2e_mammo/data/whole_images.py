"""Whole mammograms as a torch dataset: 16-bit PNGs decoded on demand (in loader workers).

The converted PNGs already have the pipeline's size; an image of another size is resized with
``INTER_AREA`` (what the converter uses), so a dataset can also be read at a smaller size.
Items are ``(x, y, index)``: ``x`` (1,H,W) uint16, ``y`` the label, ``index`` the row of the
table the dataset was built from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from e2e_mammo.constants import SPLITS
from e2e_mammo.errors import DatasetError
from e2e_mammo.io import read_table


def read_png16(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A grey PNG as uint16 (8-bit files are scaled to 16 bits), resized to ``size`` (H, W)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(path, "cannot read PNG (missing, truncated or not an image)")
    if image.ndim != 2:
        raise DatasetError(path, f"expected a grey image, found shape {image.shape}")
    if image.dtype == np.uint8:
        image = image.astype(np.uint16) * 257
    if size is not None and image.shape != tuple(size):
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image


class WholeImageDataset(Dataset):
    """Whole images listed by ``paths`` with their ``labels`` (0 benign / 1 malignant)."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        labels: Sequence[int],
        size: tuple[int, int] | None = None,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths = [str(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.size = tuple(size) if size is not None else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        image = read_png16(self.paths[i], self.size)
        return torch.from_numpy(image).unsqueeze(0), int(self.labels[i]), int(i)


#: Columns of the tables :func:`image_split_tables` returns (one per split).
IMAGE_TABLE_COLUMNS = ("image_id", "patient_id", "label", "png_path")


def image_split_tables(splits_csv: str | Path, manifest_csv: str | Path) -> dict[str, pd.DataFrame]:
    """The images of each split (``SPLITS``, each possibly empty) with their PNG paths.

    ``splits_csv`` (the split stage: image_id, patient_id, split, label) gives membership and
    labels; the converter's ``manifest_csv`` gives each image's ``png_path``. An image of a split
    missing from the manifest is an error naming it (the converter lists its failures in its own
    exclusions, and the split stage only splits converted images).
    """
    splits = read_table(splits_csv, required=("image_id", "patient_id", "split", "label"))
    manifest = read_table(manifest_csv, required=("image_id", "png_path"))
    merged = splits.merge(manifest[["image_id", "png_path"]], on="image_id", how="left")
    missing = merged.loc[merged["png_path"].isna(), "image_id"].tolist()
    if missing:
        raise DatasetError(
            manifest_csv, f"{len(missing)} split images have no converted PNG, e.g. {missing[:3]}"
        )
    merged["label"] = merged["label"].astype(int)
    return {
        split: merged.loc[merged["split"] == split, list(IMAGE_TABLE_COLUMNS)].reset_index(
            drop=True
        )
        for split in SPLITS
    }
