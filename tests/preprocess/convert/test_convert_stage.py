"""The convert stage: tables, exclusions, strict mode, no partial outputs, progress lines."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.convert_cases import SIZE, image_pixels, mask_pixels, read_png
from helpers.convert_cases import make_dataset as _dataset
from helpers.convert_cases import run_convert as _run

import e2e_mammo.preprocess.convert.worker as convert_worker
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.errors import DatasetError, OutputError
from e2e_mammo.exclusions import read_exclusions
from e2e_mammo.io import atomic_write, read_table
from e2e_mammo.preprocess.convert.journal import JOURNAL_NAME, load_journal
from e2e_mammo.preprocess.convert.stage import (
    IMAGE_COLUMNS,
    MASK_COLUMNS,
    convert_dataset,
    mask_names,
)


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
    write_dicom(
        pd.read_csv(rois_csv).mask_path[0],
        np.zeros((64, 48), np.uint8),
        DicomHeader(patient_id="x"),
    )
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
    write_dicom(path, np.full((64, 48), 7, np.uint16), DicomHeader(patient_id="x"))
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


def _rename_ids(images_csv: Path, rois_csv: Path, names: dict[str, str]) -> None:
    """Give images (and their ROIs) new ids, as a hospital export might name them."""
    for path in (images_csv, rois_csv):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame["image_id"] = frame["image_id"].replace(names)
        frame.to_csv(path, index=False)


def test_tables_are_spreadsheet_safe_and_read_back_exactly(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path, n=3)
    ids = ['=HYPERLINK("http://x.test","open")', "-abc", "@SUM(1)"]
    _rename_ids(
        images_csv, rois_csv, dict(zip(read_table(images_csv)["image_id"], ids, strict=True))
    )
    Path(read_table(images_csv)["dicom_path"][2]).unlink()  # "@SUM(1)" becomes an exclusion
    _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    out = tmp_path / "out"
    text = (out / "manifest.csv").read_text() + (out / "masks.csv").read_text()
    assert "'=HYPERLINK" in text and "'-abc" in text
    assert "\n=" not in text and "\n-" not in text and "\n@" not in text
    assert ",'@SUM(1)," in (out / "exclusions.csv").read_text()
    assert list(read_table(out / "manifest.csv")["image_id"]) == ids[:2]
    assert list(read_table(out / "masks.csv")["image_id"]) == ids[:2]
    assert [e.item for e in read_exclusions(out / "exclusions.csv")][:1] == ["@SUM(1)"]


def _two_image_dataset(tmp_path: Path, rois: list[tuple[str, str]]) -> tuple[Path, Path]:
    """Images ``P_1`` and ``P_1_2`` and one ROI per ``(image_id, abnormality_id)``, each mask
    a different box."""
    src = tmp_path / "src"
    images = [
        {
            "image_id": i,
            "dicom_path": str(
                write_dicom(src / f"{i}.dcm", image_pixels(n), DicomHeader(patient_id="p"))
            ),
        }
        for n, i in enumerate(("P_1", "P_1_2"))
    ]
    rows = []
    for n, (image_id, abn) in enumerate(rois):
        box = (slice(4, 12 + 8 * n), slice(4, 12 + 6 * n))
        mask = write_dicom(src / f"mask{n}.dcm", mask_pixels(box=box), DicomHeader(patient_id="p"))
        rows.append({"image_id": image_id, "abnormality_id": abn, "mask_path": str(mask)})
    pd.DataFrame(images).to_csv(tmp_path / "images.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "rois.csv", index=False)
    return tmp_path / "images.csv", tmp_path / "rois.csv"


@pytest.mark.parametrize(
    "rois",
    [
        [("P_1", "2_3"), ("P_1_2", "3")],  # the same name once joined
        [("P_1", "a/b"), ("P_1", "a_b")],  # the same name once sanitised
        [("P_1", "A"), ("P_1", "a")],  # the same name on a case-insensitive disk
    ],
)
def test_two_rois_never_share_a_mask_file(tmp_path, rois):
    images_csv, rois_csv = _two_image_dataset(tmp_path, rois)
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    paths = list(res.masks["mask_png_path"])
    assert len(paths) == 2 and len({p.casefold() for p in paths}) == 2
    fractions = [float((read_png(p) > 0).mean()) for p in paths]
    assert fractions == list(res.masks["foreground_fraction"]) and fractions[0] < fractions[1]
    assert list(read_table(tmp_path / "out" / "masks.csv")["mask_png_path"]) == paths


def test_mask_names_keep_plain_names_and_are_stable():
    pairs = [("P_1", "2_3"), ("P_1_2", "3"), ("P_7", "1")]
    names = mask_names(pairs)
    assert names["P_7", "1"] == "P_7_1"  # no clash: the name it always had
    assert names["P_1", "2_3"] != names["P_1_2", "3"]
    assert names["P_1", "2_3"].startswith("P_1_2_3_")
    assert mask_names(list(reversed(pairs))) == names


def test_nan_pixels_exclude_the_image_as_non_finite(tmp_path, monkeypatch):
    images_csv, rois_csv = _dataset(tmp_path, n=2)
    real = convert_worker.read_image_with_info

    def with_nan(path, native=False):
        image, info = real(path, native=native)
        if "P_00001" in str(path):
            image = image.astype(np.float32)
            image[10, 7] = np.nan  # one NaN; the rest of the image is fine
        return image, info

    monkeypatch.setattr(convert_worker, "read_image_with_info", with_nan)
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    assert list(res.manifest["image_id"]) == ["Calc-Training_P_00000_LEFT_CC"]
    reasons = {e.item: e.reason for e in res.exclusions}
    assert "non-finite" in reasons["Calc-Training_P_00001_LEFT_CC"]
    assert "non-finite" in reasons["Calc-Training_P_00001_LEFT_CC_1"]  # its ROI, with it


def test_full_disk_stops_the_stage_and_a_rerun_resumes(tmp_path, monkeypatch):
    images_csv, _ = _dataset(tmp_path, n=3, rois=False)
    out, real_write, real_convert = (
        tmp_path / "out",
        convert_worker.write_png,
        convert_worker.convert_image,
    )

    def disk_fills_on_image_1(array, path):
        if "P_00001" not in path:
            return real_write(array, path)

        def half_written(tmp):
            tmp.write_bytes(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")

        return atomic_write(path, half_written)

    monkeypatch.setattr(convert_worker, "write_png", disk_fills_on_image_1)
    with pytest.raises(OutputError, match="disk full") as err:
        _run(images_csv, out)
    assert err.value.path == str(out) and "1 converted image(s) are kept" in str(err.value)
    assert [p.name for p in (out / "images").iterdir()] == ["Calc-Training_P_00000_LEFT_CC.png"]
    assert list(load_journal(out / JOURNAL_NAME)) == ["Calc-Training_P_00000_LEFT_CC"]
    assert not (out / "manifest.csv").exists()

    calls: list[str] = []
    monkeypatch.setattr(convert_worker, "write_png", real_write)
    monkeypatch.setattr(
        convert_worker,
        "convert_image",
        lambda task: calls.append(task.image_id) or real_convert(task),
    )
    res = _run(images_csv, out)
    assert calls == ["Calc-Training_P_00001_LEFT_CC", "Calc-Training_P_00002_LEFT_CC"]
    assert len(res.manifest) == 3 and not res.exclusions
