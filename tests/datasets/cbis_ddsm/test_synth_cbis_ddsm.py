"""The synthetic CBIS-DDSM download: real file names, CSV bytes, folder layout and quirks."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pydicom
import pytest

from e2e_mammo.datasets.cbis_ddsm import synthetic as cbis_ddsm
from e2e_mammo.datasets.cbis_ddsm.synthetic import (
    CALC_HEADER,
    CSV_FILES,
    MASS_HEADER,
    synth_cbis_ddsm,
)

SIZE = (256, 160)
N = 14


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_cbis_ddsm(tmp_path_factory.mktemp("cbis") / "dl", n_patients=N, image_size=SIZE)


def _rows(root: Path, name: str) -> list[dict[str, str]]:
    with open(root / name, newline="", encoding="ascii") as f:
        return list(csv.DictReader(f))


def _all_rows(root: Path) -> pd.DataFrame:
    frames = []
    for prefix, name in CSV_FILES.items():
        df = pd.read_csv(root / name, dtype=str, keep_default_na=False)
        df.columns = [c.lower().replace(" ", "_") for c in df.columns]
        frames.append(df.assign(prefix=prefix))
    return pd.concat(frames, ignore_index=True)


def _roi_files(root: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for sub in (root / "CBIS-DDSM").iterdir():
        if re.search(r"_\d+$", sub.name):
            out[sub.name] = sorted(sub.rglob("*.dcm"))
    return out


def test_same_seed_gives_identical_bytes(tmp_path: Path, root: Path) -> None:
    again = synth_cbis_ddsm(tmp_path / "again", n_patients=N, image_size=SIZE)
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (root / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = synth_cbis_ddsm(tmp_path / "other", n_patients=N, image_size=SIZE, seed=1)
    a = (root / CSV_FILES["Mass-Training"]).read_bytes()
    assert a != (other / CSV_FILES["Mass-Training"]).read_bytes()


def test_csv_bytes_have_real_headers_crlf_and_embedded_line_feed(root: Path) -> None:
    for prefix, name in CSV_FILES.items():
        data = (root / name).read_bytes()
        mass = prefix.startswith("Mass")
        header = MASS_HEADER if mass else CALC_HEADER
        assert data.startswith(header.encode() + b"\r\n")
        assert (b"breast_density" in data.split(b"\r\n")[0]) == mass
        assert data.endswith(b"\r\n")
        rows = _rows(root, name)
        assert data.count(b"\r\n") == len(rows) + 1  # every record ends in CRLF
        quirk = "ROI mask file path" if mass else "cropped image file path"
        for row in rows:
            for col in ("image file path", "cropped image file path", "ROI mask file path"):
                assert row[col].endswith("\n") == (col == quirk)
                assert len(row[col].strip().split("/")) == 4
        if mass:
            assert data.count(b'.dcm\n"\r\n') == len(rows)
        else:
            assert data.count(b'.dcm\n",') == len(rows)
    assert (root / "mass_case_description_test_set.csv").stat().st_size > len(MASS_HEADER) + 2
    assert (root / "calc_case_description_test_set.csv").stat().st_size > len(CALC_HEADER) + 2


def test_csv_values_are_realistic(root: Path) -> None:
    df = _all_rows(root)
    assert df.patient_id.str.fullmatch(r"P_\d{5}").all()
    assert set(df.left_or_right_breast) <= {"LEFT", "RIGHT"}
    assert set(df.image_view) <= {"CC", "MLO"}
    assert set(df.pathology) <= {"MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"}
    assert set(df.abnormality_type) == {"mass", "calcification"}
    assert (df.image_file_path.str.split("_").str[0] == df.prefix.str.split("_").str[0]).all()
    # per-image label: ~40-45 % malignant
    images = df.groupby("image_file_path").pathology.apply(lambda s: (s == "MALIGNANT").any())
    assert 0.2 <= images.mean() <= 0.7
    # a patient in both a train and a test CSV
    train = set(df[df.prefix.str.endswith("Training")].patient_id)
    test = set(df[df.prefix.str.endswith("Test")].patient_id)
    assert train & test
    # the same view under both a Mass- and a Calc- prefix, as separate DICOMs
    key = df.patient_id + df.left_or_right_breast + df.image_view
    both = df.assign(key=key).groupby("key").abnormality_type.nunique()
    assert (both > 1).any()
    k = both[both > 1].index[0]
    assert df[key == k].image_file_path.str.split("/").str[2].nunique() == 2


def _dual_listed_views(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``P_xxxxx_SIDE_VIEW`` -> its rows, for views listed under two SubjectIDs."""
    df = df.assign(subject=df.image_file_path.str.split("/").str[0])
    df = df.assign(view=df.subject.str.split("_", n=1).str[1])
    return {view: rows for view, rows in df.groupby("view") if rows.subject.nunique() > 1}


def test_a_few_views_are_listed_under_mass_and_calc(root: Path) -> None:
    views = _dual_listed_views(_all_rows(root))
    assert len(views) >= 2
    for rows in views.values():
        assert set(rows.abnormality_type) == {"mass", "calcification"}
        assert rows.abnormality_id.is_unique  # numbered across the two lists, as in the real CSVs
    prefixes = [set(rows.prefix) for rows in views.values()]
    assert {"Mass-Training", "Calc-Training"} in prefixes or {"Mass-Test", "Calc-Test"} in prefixes
    assert any({p.split("-")[1] for p in pair} == {"Training", "Test"} for pair in prefixes)


def test_dual_listed_view_is_the_same_picture_in_two_dicoms(root: Path) -> None:
    for rows in _dual_listed_views(_all_rows(root)).values():
        full = [
            pydicom.dcmread(next((root / "CBIS-DDSM" / subject).rglob("*.dcm")))
            for subject in sorted(set(rows.image_file_path.str.split("/").str[0]))
        ]
        assert np.array_equal(full[0].pixel_array, full[1].pixel_array)
        assert full[0].SOPInstanceUID != full[1].SOPInstanceUID
        assert full[0].SeriesInstanceUID != full[1].SeriesInstanceUID


def test_metadata_rows_point_at_existing_series_folders(root: Path) -> None:
    meta = pd.read_csv(root / "metadata.csv", dtype=str)
    assert list(meta.columns) == cbis_ddsm.METADATA_HEADER
    n_series = sum(1 for p in (root / "CBIS-DDSM").glob("*/*/*") if p.is_dir())
    assert len(meta) == n_series
    for _, row in meta.iterrows():
        loc = row["File Location"]
        assert loc.startswith("./CBIS-DDSM/")
        folder = root / loc
        assert folder.is_dir(), loc
        files = sorted(folder.glob("*.dcm"))
        assert len(files) == int(row["Number of Images"])
        assert re.fullmatch(r"\d+\.\d\d (MB|KB)", row["File Size"])
        assert loc.endswith("-" + row["Series UID"][-5:])
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        assert ds.SeriesInstanceUID == row["Series UID"]
        assert ds.PatientID == row["Subject ID"]


def test_descriptive_folder_names_vary_realistically(tmp_path: Path) -> None:
    dl = synth_cbis_ddsm(tmp_path / "dl", n_patients=30, image_size=(96, 64), seed=2)
    studies = [p.name for p in (dl / "CBIS-DDSM").glob("*/*")]
    series = [p.name for p in (dl / "CBIS-DDSM").glob("*/*/*")]
    assert all(re.fullmatch(r"\d\d-\d\d-\d{4}-DDSM-(NA-)?\d{5}", s) for s in studies)
    assert any("-NA-" in s for s in studies) and any("-NA-" not in s for s in studies)
    assert any(s.startswith("1.000000-") for s in series)
    assert any(re.match(r"1-[a-zA-Z]", s) for s in series)
    full = [p for p in (dl / "CBIS-DDSM").glob("Mass-Training_*_CC/*")]
    assert full and all(p.name.startswith("07-20-2016-") for p in full)


def test_csv_paths_resolve_through_metadata(root: Path) -> None:
    meta = pd.read_csv(root / "metadata.csv", dtype=str).set_index("Series UID")
    df = _all_rows(root)
    for col in ("image_file_path", "cropped_image_file_path", "roi_mask_file_path"):
        for path in df[col]:
            subject, study, series, name = path.strip().split("/")
            assert name in ("000000.dcm", "000001.dcm")
            assert meta.loc[series, "Subject ID"] == subject
            assert meta.loc[series, "Study UID"] == study
            assert not (root / "CBIS-DDSM" / subject / study / series / name).exists()


def test_full_image_dicom_header(root: Path) -> None:
    df = _all_rows(root)
    path = df.image_file_path.iloc[0]
    subject = path.split("/")[0]
    (f,) = (root / "CBIS-DDSM" / subject).rglob("*.dcm")
    ds = pydicom.dcmread(f)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert ds.PhotometricInterpretation == "MONOCHROME2"
    assert (ds.BitsAllocated, ds.BitsStored) == (16, 16)
    assert ds.Laterality == df.left_or_right_breast.iloc[0][0]
    assert ds.PatientOrientation == df.image_view.iloc[0]
    assert ds.PatientID == subject
    assert ds.SeriesDescription == "full mammogram images"
    assert "ImageLaterality" not in ds and "ViewPosition" not in ds
    rows, cols = ds.pixel_array.shape
    assert 0.85 * SIZE[0] <= rows <= 1.15 * SIZE[0] and 0.85 * SIZE[1] <= cols <= 1.15 * SIZE[1]


def test_roi_folders_hold_a_crop_and_a_mask_in_varying_order(root: Path) -> None:
    positions = set()
    descriptions = set()
    for files in _roi_files(root).values():
        assert len(files) == 2
        dss = [pydicom.dcmread(f) for f in files]
        masks = [ds for ds in dss if ds.BitsAllocated == 8]
        crops = [ds for ds in dss if ds.BitsAllocated == 16]
        assert len(masks) == 1 and len(crops) == 1
        assert set(np.unique(masks[0].pixel_array)) <= {0, 255}
        assert crops[0].pixel_array.size < masks[0].pixel_array.size
        if files[0].parent == files[1].parent:
            positions.add(files[dss.index(masks[0])].name)
            descriptions.add(masks[0].SeriesDescription)
    assert positions == {"1-1.dcm", "1-2.dcm"}
    assert descriptions == {"ROI mask images", "cropped images"}


def test_a_roi_is_split_over_two_series(root: Path) -> None:
    split = [fs for fs in _roi_files(root).values() if fs[0].parent != fs[1].parent]
    assert split
    for files in split:
        assert [f.name for f in files] == ["1-1.dcm", "1-1.dcm"]
        descs = {pydicom.dcmread(f, stop_before_pixels=True).SeriesDescription for f in files}
        assert descs == {"cropped images", "ROI mask images"}


def test_some_mask_is_a_few_pixels_off_the_image_size(root: Path) -> None:
    df = _all_rows(root)
    off = 0
    for _, row in df.iterrows():
        full_subject = row.image_file_path.split("/")[0]
        (full,) = (root / "CBIS-DDSM" / full_subject).rglob("*.dcm")
        shape = pydicom.dcmread(full).pixel_array.shape
        roi_subject = row.roi_mask_file_path.strip().split("/")[0]
        for f in (root / "CBIS-DDSM" / roi_subject).rglob("*.dcm"):
            ds = pydicom.dcmread(f)
            if ds.BitsAllocated == 8:
                dr, dc = ds.Rows - shape[0], ds.Columns - shape[1]
                assert abs(dr) <= 10 and abs(dc) <= 10
                off += (dr, dc) != (0, 0)
    assert off >= 1


def test_drawn_lesion_matches_its_csv_row(root: Path) -> None:
    """Each mask lies on a brighter lesion; malignant masses are less solid than benign."""
    df = _all_rows(root)
    brighter = 0
    solidity: dict[bool, list[float]] = {True: [], False: []}
    for _, row in df.iterrows():
        (full,) = (root / "CBIS-DDSM" / row.image_file_path.split("/")[0]).rglob("*.dcm")
        image = pydicom.dcmread(full).pixel_array.astype(np.float64)
        roi_subject = row.roi_mask_file_path.strip().split("/")[0]
        for f in (root / "CBIS-DDSM" / roi_subject).rglob("*.dcm"):
            ds = pydicom.dcmread(f)
            if ds.BitsAllocated == 8:
                mask = ds.pixel_array
        mask = cv2.resize(mask, image.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        ring &= ~mask & (image > np.percentile(image, 30))
        brighter += image[mask].mean() > image[ring].mean()
        if row.abnormality_type == "mass":
            m = mask.astype(np.uint8)
            contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            c = max(contours, key=cv2.contourArea)
            hull = cv2.contourArea(cv2.convexHull(c))
            solidity[row.pathology == "MALIGNANT"].append(cv2.contourArea(c) / max(hull, 1))
    assert brighter >= 0.85 * len(df)
    if solidity[True] and solidity[False]:
        assert np.mean(solidity[True]) < np.mean(solidity[False])


def test_classic_layout_without_metadata(tmp_path: Path) -> None:
    dl = synth_cbis_ddsm(
        tmp_path / "c", n_patients=4, image_size=(96, 64), layout="classic", with_metadata=False
    )
    assert not (dl / "metadata.csv").exists()
    df = _all_rows(dl)
    for path in df.image_file_path:
        subject, study, series, _ = path.split("/")
        assert (dl / "CBIS-DDSM" / subject / study / series / "1-1.dcm").is_file()
    for path in df.roi_mask_file_path:
        subject, study, series, _ = path.strip().split("/")
        assert (dl / "CBIS-DDSM" / subject / study / series).is_dir()


def test_crash_leaves_no_complete_looking_tree(tmp_path: Path, monkeypatch) -> None:
    calls = {"n": 0}
    real = cbis_ddsm.render_mammogram

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(cbis_ddsm, "render_mammogram", flaky)
    with pytest.raises(RuntimeError):
        synth_cbis_ddsm(tmp_path / "dl", n_patients=5, image_size=(96, 64))
    assert not (tmp_path / "dl").exists()
    assert list(tmp_path.iterdir()) == []


def test_progress_goes_to_stderr(tmp_path: Path, capsys) -> None:
    synth_cbis_ddsm(tmp_path / "dl", n_patients=3, image_size=(96, 64))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "synth cbis-ddsm: 3/3 (100%)" in captured.err and "patients/s" in captured.err


def test_bad_layout_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        synth_cbis_ddsm(tmp_path / "x", n_patients=2, layout="flat")


def test_csv_parses_with_the_csv_module_into_14_columns(root: Path) -> None:
    for name in CSV_FILES.values():
        text = (root / name).read_text(encoding="ascii")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert all(len(r) == 14 for r in rows)
