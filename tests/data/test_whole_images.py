from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from e2e_mammo.data import WholeImageDataset, make_loader, read_png16
from e2e_mammo.errors import DatasetError


def pngs(folder: Path, n: int = 5, shape=(24, 16)) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        cv2.imwrite(str(path), np.full(shape, 1000 * (i + 1), np.uint16))
        paths.append(path)
    return paths


def test_items_are_16bit_grey_with_label_and_row(tmp_path: Path):
    data = WholeImageDataset(pngs(tmp_path), [0, 1, 0, 1, 1])
    x, y, i = data[3]
    assert x.shape == (1, 24, 16) and x.dtype == torch.uint16
    assert int(x[0, 0, 0]) == 4000 and (y, i) == (1, 3)


def test_other_sizes_are_resized(tmp_path: Path):
    data = WholeImageDataset(pngs(tmp_path, 1), [0], size=(12, 8))
    assert data[0][0].shape == (1, 12, 8)


def test_loader_with_workers_gives_the_same_batches(tmp_path: Path):
    data = WholeImageDataset(pngs(tmp_path), [0, 1, 0, 1, 1])
    runs = []
    for workers in (0, 2):
        loader = make_loader(data, 2, shuffle=True, seed=4, workers=workers)
        batches = []
        for epoch in (1, 2):  # persistent workers follow the sampler's epoch
            loader.batch_sampler.set_epoch(epoch)
            batches += [(x.clone(), i.clone()) for x, _, i in loader]
        runs.append(batches)
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(*runs, strict=True)
    )


def test_eight_bit_png_is_scaled_to_16_bits(tmp_path: Path):
    cv2.imwrite(str(tmp_path / "a.png"), np.full((4, 4), 255, np.uint8))
    assert read_png16(tmp_path / "a.png").max() == 65535


def test_unreadable_png_is_named(tmp_path: Path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(DatasetError, match="bad.png"):
        read_png16(tmp_path / "bad.png")


def test_split_tables_join_labels_and_png_paths(tmp_path: Path):
    from helpers.image_cases import SPLIT_SIZES, write_image_dataset

    from e2e_mammo.data.whole_images import image_split_tables

    tables = image_split_tables(*write_image_dataset(tmp_path))
    assert {s: len(t) for s, t in tables.items()} == SPLIT_SIZES
    assert list(tables["val"].columns) == ["image_id", "patient_id", "label", "png_path"]


def test_split_image_missing_from_manifest_is_named(tmp_path: Path):
    import pandas as pd
    from helpers.image_cases import write_image_dataset

    from e2e_mammo.data.whole_images import image_split_tables

    splits, manifest = write_image_dataset(tmp_path)
    pd.read_csv(manifest).iloc[1:].to_csv(manifest, index=False)
    with pytest.raises(DatasetError, match="train_0"):
        image_split_tables(splits, manifest)
