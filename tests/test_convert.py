"""The convert stage: PNG output, masks, exclusions, strict mode, resume and parallel runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import e2e_mammo.preprocess.convert as convert
from e2e_mammo.datasets.synth.dicom_writer import write_dicom
from e2e_mammo.errors import DatasetError
from e2e_mammo.preprocess.convert import IMAGE_COLUMNS, MASK_COLUMNS, convert_dataset

SIZE = (32, 24)  # (height, width) of the output PNGs


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(100, 4000, size=(64, 48), dtype=np.uint16)


def _mask(shape=(64, 48), box=(slice(8, 40), slice(8, 32))) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[box] = 255
    return m


def _dataset(tmp_path: Path, n: int = 3, rois: bool = True) -> tuple[Path, Path | None]:
    """n images (64x48, 16-bit) + one ROI each; ROI of image 1 has a smaller mask (32x24)."""
    src = tmp_path / "src"
    img_rows, roi_rows = [], []
    for i in range(n):
        image_id = f"Calc-Training_P_{i:05d}_LEFT_CC"
        dcm = write_dicom(src / f"{image_id}.dcm", _image(i), patient_id=image_id)
        img_rows.append(
            {
                "image_id": image_id,
                "patient_id": f"P_{i:05d}",
                "laterality": "L",
                "view": "CC",
                "label": i % 2,
                "split": "train",
                "dicom_path": str(dcm),
                "dataset": "cbis",
                "extra_col": f"x{i}",
            }
        )
        shape = (32, 24) if i == 1 else (64, 48)
        box = (slice(4, 20), slice(4, 16)) if i == 1 else (slice(8, 40), slice(8, 32))
        mask = write_dicom(src / f"{image_id}_1_mask.dcm", _mask(shape, box), patient_id=image_id)
        roi_rows.append(
            {
                "image_id": image_id,
                "abnormality_id": 1,
                "abnormality_type": "calcification",
                "pathology": "BENIGN",
                "mask_path": str(mask),
                "crop_path": "",
            }
        )
    images_csv = tmp_path / "images.csv"
    pd.DataFrame(img_rows).to_csv(images_csv, index=False)
    rois_csv = None
    if rois:
        rois_csv = tmp_path / "rois.csv"
        pd.DataFrame(roi_rows).to_csv(rois_csv, index=False)
    return images_csv, rois_csv


def _run(images_csv, out, **kw):
    kw.setdefault("size", SIZE)
    kw.setdefault("progress", False)
    return convert_dataset(images_csv, out, **kw)


def _png(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_png_is_16bit_with_target_shape_and_full_range(tmp_path):
    px = np.full((64, 48), 100, np.uint16)
    px[:, 24:] = 3000  # two flat halves: the resized image still holds both extremes
    dcm = write_dicom(tmp_path / "a.dcm", px, patient_id="A")
    pd.DataFrame({"image_id": ["A"], "dicom_path": [str(dcm)]}).to_csv(
        tmp_path / "images.csv", index=False
    )
    res = _run(tmp_path / "images.csv", tmp_path / "out")
    out = _png(tmp_path / "out" / "images" / "A.png")
    assert out.dtype == np.uint16 and out.shape == SIZE
    assert out.min() == 0 and out.max() == 65535
    row = res.manifest.iloc[0]
    assert (row.intensity_min, row.intensity_max) == (100.0, 3000.0)


def test_aspect_is_forced(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=1, rois=False)
    res = _run(images_csv, tmp_path / "out", size=(20, 40))  # 64x48 -> 20x40
    out = _png(res.manifest.png_path.iloc[0])
    assert out.shape == (20, 40)
    assert (res.manifest.rows.iloc[0], res.manifest.cols.iloc[0]) == (20, 40)
    assert (res.manifest.orig_rows.iloc[0], res.manifest.orig_cols.iloc[0]) == (64, 48)


def test_area_interpolation(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=1, rois=False)
    res = _run(images_csv, tmp_path / "out", size=(20, 15))
    px = _image(0).astype(np.float32)
    lo, hi = px.min(), px.max()
    expected = (cv2.resize(px, (15, 20), interpolation=cv2.INTER_AREA) - lo) / (hi - lo) * 65535
    out = _png(res.manifest.png_path.iloc[0]).astype(np.float64)
    assert np.abs(out - expected).max() <= 1.0


def test_stored_intensity_keeps_values(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=1, rois=False)
    res = _run(images_csv, tmp_path / "out", size=(64, 48), intensity="stored")
    np.testing.assert_array_equal(_png(res.manifest.png_path.iloc[0]), _image(0))


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


def test_mask_nearest_with_size_mismatch(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path)
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    row = res.masks.set_index("image_id").loc["Calc-Training_P_00001_LEFT_CC"]
    assert bool(row.shape_mismatch) is True
    assert (row.mask_rows, row.mask_cols, row.image_rows, row.image_cols) == (32, 24, 64, 48)
    small = _mask((32, 24), (slice(4, 20), slice(4, 16)))
    expected = cv2.resize(small, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_NEAREST)
    out = _png(row.mask_png_path)
    assert out.dtype == np.uint8 and out.shape == SIZE
    np.testing.assert_array_equal(out, expected)
    assert set(np.unique(out)) == {0, 255}
    assert row.foreground_fraction == pytest.approx(np.count_nonzero(expected) / expected.size)
    other = res.masks.set_index("image_id").loc["Calc-Training_P_00000_LEFT_CC"]
    assert bool(other.shape_mismatch) is False and other.mask_resize == "nearest"


def test_tiny_mask_survives_via_area_fallback(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path, n=1)
    write_dicom(
        pd.read_csv(rois_csv).mask_path[0],
        _mask(box=(slice(1, 2), slice(1, 2))),  # one pixel, missed by nearest sampling
        patient_id="x",
    )
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv, size=(8, 6))
    assert res.masks.mask_resize[0] == "area_fallback"
    assert _png(res.masks.mask_png_path[0]).max() == 255


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

    monkeypatch.setattr(convert, "_convert_one", boom)
    with pytest.raises(RuntimeError):
        _run(images_csv, tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_resume_redoes_only_missing_image(tmp_path, monkeypatch):
    images_csv, rois_csv = _dataset(tmp_path, n=3)
    out = tmp_path / "out"
    first = _run(images_csv, out, rois_csv=rois_csv)
    (out / "manifest.csv").unlink()
    removed = Path(first.manifest.png_path[1])
    removed.unlink()

    calls: list[str] = []
    real = convert._convert_one

    def counting(task):
        calls.append(task.image_id)
        return real(task)

    monkeypatch.setattr(convert, "_convert_one", counting)
    second = _run(images_csv, out, rois_csv=rois_csv)
    assert calls == ["Calc-Training_P_00001_LEFT_CC"]
    assert removed.is_file()
    pd.testing.assert_frame_equal(first.manifest, second.manifest)
    pd.testing.assert_frame_equal(first.masks, second.masks)
    assert (out / "manifest.csv").is_file()

    calls.clear()
    _run(images_csv, out, rois_csv=rois_csv, intensity="stored")  # new settings: redo all
    assert len(calls) == 3


def test_parallel_matches_serial_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "CONVERT_WHILE_STARTING", False)  # all images in workers
    images_csv, rois_csv = _dataset(tmp_path, n=5)
    serial = _run(images_csv, tmp_path / "one", rois_csv=rois_csv, threads=1)
    parallel = _run(images_csv, tmp_path / "two", rois_csv=rois_csv, threads=2)
    for name in ("manifest.csv", "masks.csv", "exclusions.csv"):
        a = (tmp_path / "one" / name).read_text().replace(str(tmp_path / "one"), "OUT")
        b = (tmp_path / "two" / name).read_text().replace(str(tmp_path / "two"), "OUT")
        assert a == b
    pngs = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(pngs) == 10
    for rel in pngs:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert len(serial.manifest) == len(parallel.manifest) == 5


def test_png_has_no_text_chunks(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=1, rois=False)
    res = _run(images_csv, tmp_path / "out")
    data = Path(res.manifest.png_path[0]).read_bytes()
    for chunk in (b"tEXt", b"zTXt", b"iTXt"):
        assert chunk not in data
    assert b"Calc-Training" not in data


def test_progress_lines_on_stderr(tmp_path, capsys):
    images_csv, _ = _dataset(tmp_path, n=2, rois=False)
    convert_dataset(images_csv, tmp_path / "out", size=SIZE, progress=True)
    err = capsys.readouterr().err
    assert "convert: 2/2 (100%)" in err and "images/s" in err


def test_parallel_from_unguarded_script(tmp_path):
    """Workers must not re-run the caller's script (Snakemake ``script:`` files have no guard)."""
    images_csv, _ = _dataset(tmp_path, n=3, rois=False)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from e2e_mammo.preprocess.convert import convert_dataset\n"
        f"res = convert_dataset({str(images_csv)!r}, {str(tmp_path / 'out')!r}, size=(32, 24),"
        " threads=2, progress=False)\n"
        "print('converted', len(res.manifest))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("converted") == 1 and "converted 3" in done.stdout
