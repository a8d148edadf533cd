"""Indexing INbreast: the real INbreast.csv (excerpt in tests/reference) over a tiny tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.dicom_trees import INBREAST_CSV, build_inbreast_tree, read_inbreast_rows

from e2e_mammo.datasets.inbreast.index import (
    IMAGE_COLUMNS,
    birads_label,
    index_inbreast,
    read_inbreast_csv,
)
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import read_exclusions

REAL_CSV = Path("/work/shared/inbreast-csv/INbreast.csv")
WHITESPACE_ACR = "53582540"
FB_VIEW = "50994300"


def _reasons(result, item: str) -> list[str]:
    return [e.reason for e in result.exclusions if e.item == item]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    base = tmp_path_factory.mktemp("inbreast")
    tree = build_inbreast_tree(base / "release")
    return tree, index_inbreast(base / "release", base / "out"), base / "out"


@pytest.fixture
def fresh(tmp_path):
    return build_inbreast_tree(tmp_path / "release"), tmp_path


@pytest.mark.parametrize(
    ("value", "label"),
    [("1", 0), ("2", 0), ("3", None), ("4a", 1), ("4b", 1), ("4C", 1), ("5", 1), ("6", 1)],
)
def test_birads_label(value, label):
    assert birads_label(value) == label


@pytest.mark.parametrize("value", ["0", "7", "3a", "", "x"])
def test_birads_label_rejects_unknown(value):
    with pytest.raises(ValueError, match="BI-RADS"):
        birads_label(value)


def test_excerpt_csv_parses_semicolons_and_whitespace_acr():
    table = read_inbreast_csv(INBREAST_CSV)
    assert len(table) == 44
    assert table["file_name"].str.fullmatch(r"\d{8}").all()
    row = table.set_index("file_name").loc[WHITESPACE_ACR]
    assert pd.isna(row["acr"])
    assert set(table["birads"]) >= {"1", "2", "3", "4a", "4b", "4c", "5", "6"}
    assert table.set_index("file_name").loc[FB_VIEW, "view"] == "FB"


@pytest.mark.skipif(not REAL_CSV.is_file(), reason="full real INbreast.csv not available")
def test_full_real_csv_gives_387_labelled_images():
    table = read_inbreast_csv(REAL_CSV)
    assert len(table) == 410
    assert (table["birads"] == "3").sum() == 23
    assert table["label"].notna().sum() == 387
    assert table["label"].value_counts().to_dict() == {0: 287, 1: 100}


def test_index_labels_and_birads_3_excluded(indexed):
    tree, result, _ = indexed
    rows = {r["File Name"]: r["Bi-Rads"].strip() for r in tree.rows}
    images = result.images.set_index("image_id")
    expected = {name: int(b[0] in "456") for name, b in rows.items() if b[0] != "3"}
    assert images["label"].to_dict() == expected
    birads3 = [name for name, b in rows.items() if b == "3"]
    assert birads3
    for name in birads3:
        assert any("BI-RADS 3" in r for r in _reasons(result, name))
    assert len(result.exclusions) == len(birads3)


def test_index_fields(indexed):
    tree, result, _ = indexed
    images = result.images.set_index("image_id")
    assert (images["dataset"] == "inbreast").all()
    assert (images["split"] == "").all()
    assert images["patient_id"].to_dict() == {n: tree.patients[n] for n in images.index}
    assert images["dicom_path"].to_dict() == {n: str(tree.files[n]) for n in images.index}
    assert set(images["view"]) == {"CC", "MLO", "FB"}
    assert images["laterality"].isin(["L", "R"]).all()
    mlo = images[images["view"] == "MLO"]
    assert all("_ML_ANON.dcm" in p for p in mlo["dicom_path"])
    assert images.loc[WHITESPACE_ACR, "acr"] == ""
    assert images.loc["22614074", "birads"] == "5"
    assert images.loc["22614074", "xml_path"].endswith("AllXML/22614074.xml")
    birads1 = [r["File Name"] for r in tree.rows if r["Bi-Rads"] == "1"]
    assert (images.loc[birads1, "xml_path"] == "").all()
    assert result.rois is None


def test_outputs_written(indexed):
    _, result, out = indexed
    assert sorted(p.name for p in out.iterdir()) == ["exclusions.csv", "images.csv"]
    images = pd.read_csv(out / "images.csv", dtype=str, keep_default_na=False)
    assert images.columns.tolist() == IMAGE_COLUMNS
    assert images["image_id"].tolist() == sorted(images["image_id"])
    assert read_exclusions(out / "exclusions.csv") == result.exclusions


def test_file_name_pattern_mismatch_is_excluded(fresh):
    tree, tmp = fresh
    bad = tmp / "release" / "AllDICOMs" / "22678622_NOTAHASH_MG_R_CC_ANON.dcm"
    write_dicom(bad, np.ones((8, 8), np.uint16), DicomHeader(patient_id=""))
    result = index_inbreast(tmp / "release", tmp / "out")
    (exclusion,) = [e for e in result.exclusions if e.source == str(bad)]
    assert "name pattern" in exclusion.reason


def test_dicom_without_row_and_row_without_dicom(fresh):
    tree, tmp = fresh
    missing = "22678622"
    tree.files[missing].unlink()
    extra = tmp / "release" / "AllDICOMs" / "99999999_0123456789abcdef_MG_L_CC_ANON.dcm"
    write_dicom(extra, np.ones((8, 8), np.uint16), DicomHeader(patient_id=""))
    result = index_inbreast(tmp / "release", tmp / "out")
    assert any("missing" in r for r in _reasons(result, missing))
    assert any("without a row" in r for r in _reasons(result, "99999999"))
    assert missing not in set(result.images["image_id"])
    assert len(result.images) == len(tree.files) - 1 - sum(r["Bi-Rads"] == "3" for r in tree.rows)


def test_side_mismatch_is_excluded(fresh):
    tree, tmp = fresh
    name = "22678622"  # CSV says R CC
    path = tree.files[name]
    path.rename(path.with_name(path.name.replace("_MG_R_", "_MG_L_")))
    result = index_inbreast(tmp / "release", tmp / "out")
    assert any("file name says L CC" in r for r in _reasons(result, name))


def test_corrupt_dicom_is_excluded_naming_file(fresh):
    tree, tmp = fresh
    path = tree.files["22678622"]
    path.write_bytes(path.read_bytes()[:-100])
    result = index_inbreast(tmp / "release", tmp / "out")
    (exclusion,) = [e for e in result.exclusions if e.item == "22678622"]
    assert exclusion.source == str(path) and "truncated" in exclusion.reason


def test_strict_raises_naming_file(fresh):
    tree, tmp = fresh
    with pytest.raises(DatasetError) as info:
        index_inbreast(tmp / "release", tmp / "out", strict=True)
    # the first problem is a BI-RADS 3 row: named by the CSV file and its row
    assert info.value.path == str(tmp / "release" / "INbreast.csv")
    assert isinstance(info.value.row, int)
    assert "BI-RADS 3" in str(info.value)
    assert not (tmp / "out" / "images.csv").exists()


def test_not_a_release_folder(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        index_inbreast(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "rel").mkdir()
    with pytest.raises(DatasetError, match="AllDICOMs"):
        index_inbreast(tmp_path / "rel", tmp_path / "out")
    (tmp_path / "rel" / "AllDICOMs").mkdir()
    with pytest.raises(DatasetError, match="INbreast.csv"):
        index_inbreast(tmp_path / "rel", tmp_path / "out")


def test_csv_missing_column(fresh):
    _, tmp = fresh
    path = tmp / "release" / "INbreast.csv"
    path.write_bytes(path.read_bytes().replace(b";Bi-Rads", b";BIRADS_score", 1))
    with pytest.raises(DatasetError, match="'bi_rads'") as info:
        index_inbreast(tmp / "release", tmp / "out")
    assert info.value.path == str(path)


def test_csv_without_data_rows(fresh):
    _, tmp = fresh
    path = tmp / "release" / "INbreast.csv"
    path.write_bytes(path.read_bytes().split(b"\r\n")[0] + b"\r\n")
    with pytest.raises(DatasetError, match="no data rows"):
        index_inbreast(tmp / "release", tmp / "out")


def test_rows_read_independently_match(tmp_path):
    # the helper's own reader (csv module) and read_inbreast_csv agree on File Name order
    shutil.copyfile(INBREAST_CSV, tmp_path / "INbreast.csv")
    ours = read_inbreast_csv(tmp_path / "INbreast.csv")["file_name"].tolist()
    assert ours == [r["File Name"] for r in read_inbreast_rows(tmp_path / "INbreast.csv")]
