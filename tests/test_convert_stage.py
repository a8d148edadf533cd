"""The convert stage: tables, exclusions, strict mode, no partial outputs, progress lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from convert_cases import SIZE
from convert_cases import make_dataset as _dataset
from convert_cases import run_convert as _run

import e2e_mammo.preprocess.convert_worker as convert_worker
from e2e_mammo.datasets.synth.dicom_writer import write_dicom
from e2e_mammo.errors import DatasetError
from e2e_mammo.preprocess.convert_stage import IMAGE_COLUMNS, MASK_COLUMNS, convert_dataset


def test_manifest_columns(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path)
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    written = pd.read_csv(tmp_path / "out" / "manifest.csv")
    inputs = list(pd.read_csv(images_csv).columns)
    assert list(written.columns) == inputs + list(IMAGE_COLUMNS)
    assert list(res.manifest.columns) == list(written.columns)
    assert (written.photometric == "MONOCHROME2").all()
    assert (written.transfer_syntax == "1.2.840.10008.1.2").all()
    masks = pd.read_csv(tmp_path / "out" / "masks.csv")
    assert list(masks.columns) == list(pd.read_csv(rois_csv).columns) + list(MASK_COLUMNS)
    assert pd.read_csv(tmp_path / "out" / "exclusions.csv").empty


def test_mask_without_foreground_is_excluded(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path, n=2)
    write_dicom(pd.read_csv(rois_csv).mask_path[0], np.zeros((64, 48), np.uint8), patient_id="x")
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    assert len(res.manifest) == 2 and len(res.masks) == 1
    (exc,) = res.exclusions
    assert exc.stage == "convert" and exc.reason == "mask has no foreground"
    assert exc.item == "Calc-Training_P_00000_LEFT_CC_1"
    assert len(pd.read_csv(tmp_path / "out" / "exclusions.csv")) == 1


def test_missing_dicom_is_excluded_with_its_rois(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path, n=3)
    missing = Path(pd.read_csv(images_csv).dicom_path[1])
    missing.unlink()
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    assert list(res.manifest.image_id) == [
        "Calc-Training_P_00000_LEFT_CC",
        "Calc-Training_P_00002_LEFT_CC",
    ]
    assert len(res.masks) == 2
    reasons = {e.item: e.reason for e in res.exclusions}
    assert reasons["Calc-Training_P_00001_LEFT_CC"] == "file not found"
    assert "its image was excluded" in reasons["Calc-Training_P_00001_LEFT_CC_1"]
    assert any(e.source == str(missing) for e in res.exclusions)


def test_roi_problems_found_before_conversion_are_excluded(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path, n=2)
    rois = pd.read_csv(rois_csv)
    extra = rois.iloc[[0, 1]].copy()
    extra["image_id"] = ["Calc-Training_P_00000_LEFT_CC", "NOT_AN_IMAGE"]
    pd.concat([rois, extra]).to_csv(rois_csv, index=False)
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    assert [e.reason for e in res.exclusions] == [
        "duplicate (image_id, abnormality_id)",
        f"image 'NOT_AN_IMAGE' is not in {images_csv}",
    ]
    assert len(res.masks) == 2


def test_constant_image_is_excluded(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=2, rois=False)
    path = pd.read_csv(images_csv).dicom_path[0]
    write_dicom(path, np.full((64, 48), 7, np.uint16), patient_id="x")
    res = _run(images_csv, tmp_path / "out")
    assert len(res.manifest) == 1
    assert "constant image" in res.exclusions[0].reason


def test_strict_raises(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=2, rois=False)
    Path(pd.read_csv(images_csv).dicom_path[1]).unlink()
    with pytest.raises(DatasetError, match="file not found"):
        _run(images_csv, tmp_path / "out", strict=True)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_no_partial_manifest_when_worker_raises_in_strict_mode(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=4, rois=False)
    path = Path(pd.read_csv(images_csv).dicom_path[2])
    path.write_bytes(path.read_bytes()[:300])  # truncated
    with pytest.raises(DatasetError) as err:
        _run(images_csv, tmp_path / "out", strict=True, threads=2)
    assert str(path) in str(err.value)
    for name in ("manifest.csv", "masks.csv", "exclusions.csv"):
        assert not (tmp_path / "out" / name).exists()


def test_no_manifest_when_worker_crashes(tmp_path, monkeypatch):
    images_csv, _ = _dataset(tmp_path, n=2, rois=False)

    def boom(task):
        raise RuntimeError("worker died")

    monkeypatch.setattr(convert_worker, "convert_image", boom)
    with pytest.raises(RuntimeError):
        _run(images_csv, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_progress_lines_on_stderr(tmp_path, capsys):
    images_csv, _ = _dataset(tmp_path, n=2, rois=False)
    convert_dataset(images_csv, tmp_path / "out", size=SIZE, progress=True)
    err = capsys.readouterr().err
    assert "convert: 2/2 (100%)" in err and "images/s" in err


def test_progress_notes_skipped_images(tmp_path, capsys):
    images_csv, _ = _dataset(tmp_path, n=2, rois=False)
    _run(images_csv, tmp_path / "out")
    convert_dataset(images_csv, tmp_path / "out", size=SIZE, progress=True)
    err = capsys.readouterr().err
    assert "convert: 0 image(s) to convert (2 already converted, skipped)" in err
    assert "convert: wrote 2 image(s), 0 mask(s), 0 exclusion(s)" in err
