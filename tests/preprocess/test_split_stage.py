"""Tests for the split stage's file handling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from e2e_mammo.errors import DatasetError
from e2e_mammo.io import read_table
from e2e_mammo.preprocess.split_stage import run_split


def _manifest(tmp_path: Path, labels: list[str]) -> Path:
    path = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "image_id": [f"i{i}" for i in range(len(labels))],
            "patient_id": [f"p{i // 2}" for i in range(len(labels))],
            "label": labels,
        }
    ).to_csv(path, index=False)
    return path


def test_writes_splits_summary_and_exclusions(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, ["0", "1"] * 10)
    run_split(manifest, tmp_path / "out", mode="holdout", seed=0, val_frac=0.3)
    for name in ("splits.csv", "summary.csv", "exclusions.csv"):
        assert (tmp_path / "out" / name).is_file()
    assert len(pd.read_csv(tmp_path / "out" / "splits.csv")) == 20


def test_bad_label_names_file_and_row(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, ["0", "1", "maybe"])
    with pytest.raises(DatasetError, match=r"manifest.csv, row 3: label must be 0 or 1"):
        run_split(manifest, tmp_path / "out", mode="paper", seed=0)


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    pd.DataFrame({"image_id": ["a"], "label": [0]}).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="patient_id"):
        run_split(path, tmp_path / "out", mode="paper", seed=0)


def test_splits_table_is_spreadsheet_safe_and_read_back_intact(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    ids = [f'=HYPERLINK("x{i}")' if i % 2 else f"-img{i}" for i in range(20)]
    pd.DataFrame(
        {"image_id": ids, "patient_id": [f"@p{i // 2}" for i in range(20)], "label": [0, 1] * 10}
    ).to_csv(path, index=False)
    run_split(path, tmp_path / "out", mode="holdout", seed=0, val_frac=0.3)
    text = (tmp_path / "out" / "splits.csv").read_text()
    assert "'=HYPERLINK" in text and "'-img0" in text and "'@p0" in text
    splits = read_table(tmp_path / "out" / "splits.csv")
    assert sorted(splits["image_id"]) == sorted(ids)
    assert set(splits["patient_id"]) == {f"@p{i}" for i in range(10)}
