"""Tests for the training-set mean grey value."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from e2e_mammo.errors import DatasetError
from e2e_mammo.preprocess.stats import mean_grey, write_mean


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    rows, split_rows = [], []
    for i, (value, split) in enumerate([(65535, "train"), (0, "train"), (30000, "test")]):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), np.full((4, 3), value, np.uint16))
        rows.append({"image_id": str(i), "png_path": str(path)})
        split_rows.append({"image_id": str(i), "split": split})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame(split_rows).to_csv(tmp_path / "splits.csv", index=False)
    return tmp_path / "manifest.csv", tmp_path / "splits.csv"


def test_mean_is_over_training_images_on_255_scale(tmp_path: Path) -> None:
    manifest, splits = _dataset(tmp_path)
    result = mean_grey(manifest, splits)
    assert result["mean"] == pytest.approx(127.5)
    assert result["images"] == 2


def test_empty_split_is_an_error(tmp_path: Path) -> None:
    manifest, splits = _dataset(tmp_path)
    with pytest.raises(DatasetError, match="no images in split 'val'"):
        mean_grey(manifest, splits, split="val")


def test_manifest_without_png_path_names_the_column(tmp_path: Path) -> None:
    manifest, splits = _dataset(tmp_path)
    pd.read_csv(manifest).drop(columns="png_path").to_csv(manifest, index=False)
    with pytest.raises(DatasetError, match="png_path"):
        mean_grey(manifest, splits)


def test_write_mean_writes_the_result_as_json(tmp_path: Path) -> None:
    manifest, splits = _dataset(tmp_path)
    result = write_mean(manifest, splits, tmp_path / "out" / "mean.json")
    assert json.loads((tmp_path / "out" / "mean.json").read_text()) == result
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mean.json"]
