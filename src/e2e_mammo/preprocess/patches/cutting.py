"""Pass 2 of a patch set: cut the planned boxes out of the images into one array per split.

``<split>.npy`` is uint16, N x P x P, row ``i`` = row ``i`` of the split's index. It is filled
through ``np.lib.format.open_memmap`` one image at a time (each image is read again and all its
boxes cut), so no split is ever stacked in memory. The array is written to a temporary file
beside its target and renamed only once complete (:func:`e2e_mammo.io.atomic_path`), so a
``.npy`` under its final name is always whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from e2e_mammo.constants import PNG_MAX
from e2e_mammo.errors import DatasetError
from e2e_mammo.io import atomic_path
from e2e_mammo.logs import Progress
from e2e_mammo.preprocess.patches.plan import read_grey
from e2e_mammo.preprocess.patches.sampling import pad_to


def _cut_into(
    array: np.ndarray,
    rows: pd.DataFrame,
    paths: dict[str, str],
    patch_size: int,
    progress: Progress,
) -> None:
    """Fill ``array[i]`` with the box of index row ``i``, image by image."""
    for image_id, group in rows.groupby("image_id", sort=False):
        image = read_grey(paths[image_id])
        if image is None:
            raise DatasetError(paths[image_id], "image became unreadable while cutting")
        image = pad_to(image, patch_size)
        for i, y0, x0 in zip(group.index, group["y0"], group["x0"], strict=True):
            crop = image[y0 : y0 + patch_size, x0 : x0 + patch_size]
            array[i] = np.clip(crop, 0, PNG_MAX).astype(np.uint16, copy=False)
        progress.tick()


def write_split_array(
    path: Path,
    rows: pd.DataFrame,
    paths: dict[str, str],
    patch_size: int,
    progress: Progress,
) -> None:
    """Cut the boxes of ``rows`` (one split's index, ``y0``/``x0`` columns, RangeIndex) from the
    images ``paths[image_id]`` into a uint16 N x P x P ``.npy`` at ``path`` (atomically)."""
    shape = (len(rows), patch_size, patch_size)
    with atomic_path(path) as tmp:
        if len(rows) == 0:
            with open(tmp, "wb") as handle:  # a handle: np.save would append ".npy" to tmp
                np.save(handle, np.zeros(shape, dtype=np.uint16))
        else:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint16, shape=shape)
            try:
                _cut_into(array, rows, paths, patch_size, progress)
                array.flush()
            finally:
                del array  # unmap before the rename


__all__ = ["write_split_array"]
