"""The synthetic INbreast release: file names, INbreast.csv bytes, OsiriX XMLs, 14-bit pixels."""

from __future__ import annotations

import plistlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from e2e_mammo.datasets.inbreast.synthetic import CSV_HEADER, FILE_RE, synth_inbreast

SIZE = (256, 208)
N = 10
ROI_KEYS = {
    "Area", "Center", "Dev", "IndexInImage", "Max", "Mean", "Min", "Name", "NumberOfPoints",
    "Point_mm", "Point_px", "Total", "Type",
}  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_inbreast(tmp_path_factory.mktemp("inb") / "INbreast Release 1.0", N, SIZE)


def _table(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "INbreast.csv", sep=";", dtype=str, keep_default_na=False)


def test_same_seed_gives_identical_bytes(tmp_path: Path, root: Path) -> None:
    again = synth_inbreast(tmp_path / "again", N, SIZE)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (root / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_every_file_name_matches_the_real_pattern(root: Path) -> None:
    names = sorted(p.name for p in (root / "AllDICOMs").iterdir())
    assert names
    matches = [re.match(FILE_RE, n) for n in names]
    assert all(matches)
    assert FILE_RE == r"^(\d{8})_([0-9a-f]{16})_MG_([LR])_([A-Z]+)_ANON\.dcm$"
    assert {m.group(4) for m in matches} == {"CC", "ML"}
    per_patient = Counter(m.group(2) for m in matches)
    assert len(per_patient) == N
    assert set(per_patient.values()) <= {2, 4}
    assert 4 in per_patient.values()


def test_csv_is_semicolon_separated_crlf_with_real_header(root: Path) -> None:
    data = (root / "INbreast.csv").read_bytes()
    assert data.startswith(CSV_HEADER.encode() + b"\r\n")
    assert data.count(b"\r\n") == data.count(b"\n")
    df = _table(root)
    assert list(df.columns) == CSV_HEADER.split(";")
    assert (df["Patient ID"] == "removed").all() and (df["Patient age"] == "removed").all()
    assert set(df.View) == {"CC", "MLO"}
    assert df["Acquisition date"].str.fullmatch(r"20(08|09|10)0[12]").all()
    assert set(df["Bi-Rads"]) <= {"1", "2", "3", "4a", "4b", "4c", "5", "6"}
    acr = df.ACR.str.strip()
    assert (acr == "").sum() == 1 and len(df.ACR[acr == ""].iloc[0]) > 100
    assert set(acr[acr != ""]) <= {"1", "2", "3", "4"}
    names = {p.name.split("_")[0]: p.name for p in (root / "AllDICOMs").iterdir()}
    assert set(df["File Name"]) == set(names)
    for _, row in df.iterrows():
        _, _, _, side, view, _ = names[row["File Name"]].split("_")
        assert side == row.Laterality and {"ML": "MLO"}.get(view, view) == row.View


def test_birads_mix_is_realistic(tmp_path: Path) -> None:
    df = _table(synth_inbreast(tmp_path / "big", 40, (64, 52), seed=5))
    level = df["Bi-Rads"].str[0].astype(int)
    assert 0.12 <= (level >= 4).mean() <= 0.45
    assert (level == 1).any() and (level == 2).any()


def test_xmls_are_osirix_plists_with_points_inside_the_image(root: Path) -> None:
    df = _table(root).set_index("File Name")
    xmls = sorted((root / "AllXML").glob("*.xml"))
    assert xmls
    names_seen = set()
    for x in xmls:
        assert df.loc[x.stem, "Bi-Rads"] != "1"
        with open(x, "rb") as f:
            doc = plistlib.load(f)
        image = doc["Images"][0]
        assert isinstance(image["ImageIndex"], int)
        assert image["NumberOfROIs"] == len(image["ROIs"]) > 0
        (dcm,) = (root / "AllDICOMs").glob(f"{x.stem}_*.dcm")
        ds = pydicom.dcmread(dcm, stop_before_pixels=True)
        for roi in image["ROIs"]:
            assert set(roi) == ROI_KEYS
            assert roi["NumberOfPoints"] == len(roi["Point_px"]) == len(roi["Point_mm"])
            names_seen.add(roi["Name"])
            if roi["Name"] == "Calcification":
                assert roi["NumberOfPoints"] == 1
            for p in roi["Point_px"]:
                m = re.fullmatch(r"\((-?[\d.]+), (-?[\d.]+)\)", p)
                assert m, p
                px, py = float(m.group(1)), float(m.group(2))
                assert 0 <= px < ds.Columns and 0 <= py < ds.Rows
    assert {"Mass", "Calcification", "Cluster"} & names_seen


def test_no_xml_for_birads_1(root: Path) -> None:
    df = _table(root)
    ones = set(df.loc[df["Bi-Rads"] == "1", "File Name"])
    xml = {p.stem for p in (root / "AllXML").glob("*.xml")}
    assert not ones & xml
    high = set(df.loc[df["Bi-Rads"].str[0].astype(int) >= 4, "File Name"])
    assert high <= xml


def test_pixels_are_14_bit_content_in_16_bits(root: Path) -> None:
    shapes = set()
    for f in (root / "AllDICOMs").iterdir():
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array
        assert arr.dtype == np.uint16 and ds.BitsAllocated == 16
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert 1500 <= arr.max() <= 5000 < 2**14
        assert ds.PatientID == ""
        for tag in ("Laterality", "ImageLaterality", "ViewPosition", "PatientOrientation"):
            assert tag not in ds
        shapes.add(arr.shape)
    assert SIZE in shapes
    small = (round(SIZE[0] * 3328 / 4084), round(SIZE[1] * 2560 / 3328))
    assert shapes <= {SIZE, small}


def test_default_size_keeps_the_two_detector_aspect_ratios(tmp_path: Path) -> None:
    out = synth_inbreast(tmp_path / "r", 6, (408, 333), seed=3)
    shapes = {pydicom.dcmread(f).pixel_array.shape for f in (out / "AllDICOMs").iterdir()}
    ratios = {round(r / c, 2) for r, c in shapes}
    assert ratios <= {round(4084 / 3328, 2), round(3328 / 2560, 2)}
