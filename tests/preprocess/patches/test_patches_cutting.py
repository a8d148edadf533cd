"""Pass 2 of a patch set: planned boxes -> one uint16 array per split, written atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers.patch_cases import Img, P, Roi
from helpers.patch_cases import run_patch_set as _run
from helpers.patch_cases import square as _square

from e2e_mammo.errors import DatasetError
from e2e_mammo.logs import Progress
from e2e_mammo.preprocess.patches.cutting import write_split_array

QUIET = Progress("test", 1, enabled=False)


def test_array_rows_equal_image_crops(tmp_path: Path) -> None:
    images = [
        Img("a", rois=[Roi("1", _square(50, 40, 16))]),
        Img("b", split="val", rois=[Roi("1", _square(2, 80, 10))]),
    ]
    _, out = _run(tmp_path, images)
    for split in ("train", "val"):
        array = np.load(out / f"{split}.npy")
        index = pd.read_csv(out / f"{split}.csv", keep_default_na=False)
        assert array.dtype == np.uint16 and len(array) == len(index) == 20
        for _, row in index.iterrows():
            image = cv2.imread(str(tmp_path / "png" / f"{row['image_id']}.png"), -1)
            crop = image[row["y0"] : row["y1"], row["x0"] : row["x1"]]
            np.testing.assert_array_equal(array[row["patch_index"]], crop)


def test_no_rows_give_an_empty_array(tmp_path: Path) -> None:
    rows = pd.DataFrame({"image_id": [], "y0": [], "x0": []})
    write_split_array(tmp_path / "val.npy", rows, {}, P, QUIET)
    assert np.load(tmp_path / "val.npy").shape == (0, P, P)
    assert [p.name for p in tmp_path.iterdir()] == ["val.npy"]


def test_image_smaller_than_the_patch_is_zero_padded(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((10, 8), 7, np.uint16))
    rows = pd.DataFrame({"image_id": ["a"], "y0": [0], "x0": [0]})
    write_split_array(tmp_path / "t.npy", rows, {"a": str(tmp_path / "a.png")}, 12, QUIET)
    patch = np.load(tmp_path / "t.npy")[0]
    assert (patch[:10, :8] == 7).all() and (patch[10:] == 0).all() and (patch[:, 8:] == 0).all()


def test_unreadable_image_leaves_no_array(tmp_path: Path) -> None:
    rows = pd.DataFrame({"image_id": ["a"], "y0": [0], "x0": [0]})
    with pytest.raises(DatasetError, match="unreadable while cutting"):
        write_split_array(tmp_path / "t.npy", rows, {"a": str(tmp_path / "no.png")}, P, QUIET)
    assert list(tmp_path.iterdir()) == []
