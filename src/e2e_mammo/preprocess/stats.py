"""Intensity statistics of the converted images.

The paper subtracts "the average gray scale value of the whole image training set" from patches
and whole images alike (section 3.1.2); the authors' value for CBIS-DDSM at 1152x896 was 52.18 on
the 0-255 scale. It is computed here from the 16-bit PNGs of one split, scaled by
:data:`~e2e_mammo.constants.RESCALE_16BIT` (255/65535).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from e2e_mammo.constants import RESCALE_16BIT, SPLITS
from e2e_mammo.errors import DatasetError
from e2e_mammo.io import atomic_write_json, read_table


def mean_grey(manifest_csv: Path, splits_csv: Path, split: str = SPLITS[0]) -> dict:
    """Mean grey value (0-255 scale) over all pixels of the ``split`` images (default: the
    training split, ``SPLITS[0]``).

    Returns ``{"mean": float, "split": split, "images": n}``.
    """
    manifest = read_table(manifest_csv, ("image_id", "png_path"))
    splits = read_table(splits_csv, ("image_id", "split"))
    chosen = manifest[manifest["image_id"].isin(splits.loc[splits["split"] == split, "image_id"])]
    if chosen.empty:
        raise DatasetError(splits_csv, f"no images in split {split!r} to compute the mean from")
    total, count = 0.0, 0
    for path in chosen["png_path"]:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetError(path, "cannot read converted PNG")
        total += float(image.sum(dtype=np.float64))
        count += image.size
    mean = round(total / count * RESCALE_16BIT, 4)
    return {"mean": mean, "split": split, "images": int(len(chosen))}


def write_mean(
    manifest_csv: Path, splits_csv: Path, out_json: Path, split: str = SPLITS[0]
) -> dict:
    """Compute :func:`mean_grey` and write it as JSON (atomically)."""
    result = mean_grey(manifest_csv, splits_csv, split)
    atomic_write_json(result, out_json)
    return result
