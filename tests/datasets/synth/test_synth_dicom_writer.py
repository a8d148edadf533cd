"""The DICOM writer used by the synthetic datasets and the test trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, make_uid, write_dicom


def test_written_file_reads_back_with_its_pixels_and_tags(tmp_path: Path) -> None:
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    path = write_dicom(
        tmp_path / "a" / "1-1.dcm",
        pixels,
        DicomHeader(patient_id="P", laterality="L", bits_stored=14),
    )
    ds = pydicom.dcmread(path)
    assert np.array_equal(ds.pixel_array, pixels)
    assert (ds.PatientID, ds.Laterality, ds.BitsStored, ds.HighBit) == ("P", "L", 14, 13)
    assert "ViewPosition" not in ds


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_dicom(tmp_path / "1-1.dcm", np.zeros((2, 2), np.uint8), DicomHeader(patient_id="P"))
    assert [p.name for p in tmp_path.iterdir()] == ["1-1.dcm"]


def test_bad_pixels_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2-D"):
        write_dicom(
            tmp_path / "1-1.dcm", np.zeros((2, 2, 2), np.uint8), DicomHeader(patient_id="P")
        )
    assert list(tmp_path.iterdir()) == []


def test_same_sop_uid_gives_identical_bytes(tmp_path: Path) -> None:
    uids = [make_uid(np.random.default_rng(1)) for _ in range(2)]
    assert uids[0] == uids[1] and uids[0].startswith("1.3.6.1.4.1.9590.100.1.2.")
    same = {"study_uid": uids[0], "series_uid": uids[0], "sop_instance_uid": uids[0]}
    pixels = np.ones((2, 2), np.uint16)
    files = [
        write_dicom(tmp_path / f"{i}.dcm", pixels, DicomHeader(patient_id="P", **same))
        for i in range(2)
    ]
    assert files[0].read_bytes() == files[1].read_bytes()
