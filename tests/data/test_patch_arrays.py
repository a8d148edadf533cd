from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from e2e_mammo.data.patch_arrays import PatchArrayDataset, load_patch_split
from e2e_mammo.errors import DatasetError
from e2e_mammo.io import atomic_write_csv


def dataset(n=6) -> PatchArrayDataset:
    images = np.arange(n * 4 * 4, dtype=np.uint16).reshape(n, 4, 4)
    return PatchArrayDataset(images, np.arange(n) % 2)


def test_batch_read_equals_item_reads_in_the_asked_order():
    data = dataset()
    x, y, idx = data.__getitems__([4, 1, 3])
    assert x.shape == (3, 1, 4, 4) and x.dtype == torch.uint16
    for k, i in enumerate([4, 1, 3]):
        xi, yi, ii = data[i]
        assert torch.equal(x[k], xi[0]) and y[k] == yi[0] and idx[k] == i


def test_memory_mapped_split_loads_with_its_index(tmp_path: Path):
    np.save(tmp_path / "val.npy", np.zeros((3, 4, 4), np.uint16))
    pd.DataFrame({"image_id": ["a", "b", "c"], "class": [0, 1, 2]}).to_csv(
        tmp_path / "val.csv", index=False
    )
    data, index = load_patch_split(tmp_path, "val")
    assert isinstance(data.images, np.memmap) and list(data.labels) == [0, 1, 2]
    assert list(index["image_id"]) == ["a", "b", "c"]


def test_count_mismatch_names_the_index_file(tmp_path: Path):
    np.save(tmp_path / "val.npy", np.zeros((3, 4, 4), np.uint16))
    pd.DataFrame({"class": [0, 1]}).to_csv(tmp_path / "val.csv", index=False)
    with pytest.raises(DatasetError, match="val.csv"):
        load_patch_split(tmp_path, "val")


def test_missing_split_file_is_named(tmp_path: Path):
    with pytest.raises(DatasetError, match="train.npy"):
        load_patch_split(tmp_path, "train")


def test_index_written_spreadsheet_safe_reads_back_intact(tmp_path: Path):
    np.save(tmp_path / "val.npy", np.zeros((2, 4, 4), np.uint16))
    ids = ["=1+1", "-0012"]
    frame = pd.DataFrame({"image_id": ids, "patient_id": ["@p", "0012"], "class": [0, 1]})
    atomic_write_csv(frame, tmp_path / "val.csv", safe=True)
    assert "'=1+1" in (tmp_path / "val.csv").read_text()
    _, index = load_patch_split(tmp_path, "val")
    assert list(index["image_id"]) == ids and list(index["patient_id"]) == ["@p", "0012"]
    assert list(index["class"]) == [0, 1]
