"""The pieces both indexers share: exclusion log, folder checks, record comparison, DICOM walk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.datasets.indexing import (
    ExclusionLog,
    dicom_folders,
    finish_index,
    require_dataset_folder,
    same_values,
)
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import read_exclusions
from e2e_mammo.io import read_table


def test_strict_log_raises_on_exclude_naming_file_and_row():
    with pytest.raises(DatasetError) as info:
        ExclusionLog(strict=True).exclude("img", "a.csv", "bad value", row=3)
    assert (info.value.path, info.value.row) == ("a.csv", 3)


def test_record_is_kept_even_in_strict_mode():
    xlog = ExclusionLog(strict=True)
    xlog.record("img", "a.dcm", "duplicate of other")
    assert [(e.item, e.source, e.reason) for e in xlog.items] == [
        ("img", "a.dcm", "duplicate of other")
    ]


def test_require_dataset_folder_names_the_missing_piece(tmp_path: Path):
    with pytest.raises(DatasetError, match="X root folder does not exist"):
        require_dataset_folder(tmp_path / "nope", "sub", "X", "no sub")
    with pytest.raises(DatasetError, match="no sub"):
        require_dataset_folder(tmp_path, "sub", "X", "no sub")
    (tmp_path / "sub").mkdir()
    assert require_dataset_folder(tmp_path, "sub", "X", "no sub") == tmp_path / "sub"


def test_same_values_counts_two_missing_values_as_equal():
    a = pd.Series({"x": "1", "y": None, "z": "a"})
    assert same_values(a, pd.Series({"x": "1", "y": "NA", "z": "b"}), ["x", "y"])
    assert not same_values(a, pd.Series({"x": "1", "y": "NA", "z": "b"}), ["x", "z"])


def test_dicom_folders_walks_once_sorted_and_skips_other_files(tmp_path: Path):
    for rel in ("b/2.dcm", "b/1.DCM", "a/x/1.dcm", "a/notes.txt"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert dicom_folders(tmp_path) == {
        ("a", "x"): [str(tmp_path / "a/x/1.dcm")],
        ("b",): [str(tmp_path / "b/1.DCM"), str(tmp_path / "b/2.dcm")],
    }


def test_finish_index_sorts_writes_and_returns(tmp_path: Path):
    xlog = ExclusionLog()
    xlog.exclude("z", "z.dcm", "unreadable")
    images = pd.DataFrame({"image_id": ["b", "a"], "label": [1, 0]})
    result = finish_index(tmp_path / "out", images, None, xlog, "Test")
    assert result.images["image_id"].tolist() == ["a", "b"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["exclusions.csv", "images.csv"]
    assert read_exclusions(tmp_path / "out" / "exclusions.csv") == result.exclusions


def test_dicom_folders_lists_files_written_by_the_dicom_writer(tmp_path: Path):
    write_dicom(
        tmp_path / "s" / "1-1.dcm", np.zeros((4, 4), np.uint16), DicomHeader(patient_id="p")
    )
    assert dicom_folders(tmp_path) == {("s",): [str(tmp_path / "s" / "1-1.dcm")]}


def test_index_tables_are_spreadsheet_safe_and_read_back_intact(tmp_path: Path):
    ids = ["=cmd|' /C calc'!A0", "-abc", "plain"]
    images = pd.DataFrame({"image_id": ids, "label": [1, 0, 0]})
    rois = pd.DataFrame({"image_id": ids[:1], "abnormality_id": ["@1"]})
    finish_index(tmp_path / "out", images, rois, ExclusionLog(), "Test")
    text = (tmp_path / "out" / "images.csv").read_text()
    assert "'=cmd" in text and "'-abc" in text and "\nplain," in text
    assert sorted(read_table(tmp_path / "out" / "images.csv")["image_id"]) == sorted(ids)
    assert list(read_table(tmp_path / "out" / "rois.csv")["abnormality_id"]) == ["@1"]
