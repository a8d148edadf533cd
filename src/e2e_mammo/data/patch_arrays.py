"""Patch sets as a torch dataset: the (N,P,P) uint16 ``.npy`` arrays, memory-mapped.

A batch is read with one fancy-indexing call on the memory map (``__getitems__``, which
``torch.utils.data.DataLoader`` uses in place of per-item reads), so a batch of small patches
costs one copy, not ``batch_size`` Python calls.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from e2e_mammo.errors import DatasetError
from e2e_mammo.io import unescape_cell

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(array))


class PatchArrayDataset(Dataset):
    """Patches (1,P,P) uint16, labels (class ids) and row numbers of one patch-set split.

    Items and batches are ``(x, y, index)``: ``index`` is the row of the split's index CSV.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if images.ndim != 3:
            raise ValueError(f"expected (N,P,P) patches, got shape {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} patches but {len(labels)} labels")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])

    def __getitems__(self, indices: list[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")  # sequential reads from the memory map
        rows = np.empty((len(idx), *self.images.shape[1:]), dtype=self.images.dtype)
        rows[order] = self.images[idx[order]]
        x = _as_tensor(rows).unsqueeze(1)
        return x, torch.from_numpy(self.labels[idx]), torch.from_numpy(idx)


def load_patch_split(patches_dir: Path, split: str) -> tuple[PatchArrayDataset, pd.DataFrame]:
    """The dataset and index table (``class`` column = label) of one split of a patch set."""
    array_path, index_path = patches_dir / f"{split}.npy", patches_dir / f"{split}.csv"
    for path in (array_path, index_path):
        if not path.is_file():
            raise DatasetError(path, f"patch set file missing for split {split!r}")
    images = np.load(array_path, mmap_mode="r")
    # written spreadsheet-safe by the patch stage: the escape undone, so IDs read back exactly
    index = pd.read_csv(index_path, dtype={"image_id": str, "patient_id": str}).map(unescape_cell)
    if "class" not in index.columns:
        raise DatasetError(index_path, "missing column class")
    if len(images) != len(index):
        raise DatasetError(index_path, f"{len(index)} index rows for {len(images)} patches")
    if len(index) == 0:
        raise DatasetError(index_path, f"split {split!r} has no patches")
    return PatchArrayDataset(images, index["class"].to_numpy(np.int64)), index
