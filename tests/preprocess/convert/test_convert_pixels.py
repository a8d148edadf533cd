"""Conversion pixels: resize (INTER_AREA, aspect forced), intensity to 16 bits, mask resizing."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers.convert_cases import SIZE
from helpers.convert_cases import image_pixels as _image
from helpers.convert_cases import make_dataset as _dataset
from helpers.convert_cases import mask_pixels as _mask
from helpers.convert_cases import read_png as _png
from helpers.convert_cases import run_convert as _run

from e2e_mammo.constants import PNG_MAX
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.preprocess.convert.pixels import resize_image, resize_mask

# --------------------------------------------------------------------------------------------
# resize_image / resize_mask on arrays
# --------------------------------------------------------------------------------------------


def test_resize_image_minmax_spans_the_16bit_range() -> None:
    image = np.full((64, 48), 10, np.float32)
    image[:, 24:] = 500  # two flat halves: the resized image still holds both extremes
    png, lo, hi = resize_image(image, (16, 12), "minmax")
    assert png.dtype == np.uint16 and png.shape == (16, 12)
    assert (lo, hi) == (10.0, 500.0)
    assert png.min() == 0 and png.max() == PNG_MAX


def test_resize_image_integer_and_float_paths_agree() -> None:
    stored = _image(0)
    fast, *_ = resize_image(stored, SIZE, "minmax")
    slow, *_ = resize_image(stored.astype(np.float32), SIZE, "minmax")
    assert np.abs(fast.astype(np.int64) - slow.astype(np.int64)).max() <= 1


def test_resize_image_stored_clips_to_16_bits() -> None:
    image = np.array([[-5.0, 70000.0], [3.4, 3.6]], dtype=np.float32)
    png, _, _ = resize_image(image, (2, 2), "stored")
    np.testing.assert_array_equal(png, [[0, PNG_MAX], [3, 4]])


def test_resize_image_rejects_constant_image() -> None:
    with pytest.raises(ValueError, match="constant image"):
        resize_image(np.full((8, 8), 7, np.uint16), (4, 4), "stored")


def test_resize_image_rejects_non_finite_values() -> None:
    image = np.ones((8, 8), np.float32)
    image[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        resize_image(image, (4, 4), "minmax")


def test_resize_mask_nearest_is_0_or_255() -> None:
    mask = _mask() > 0
    out, method = resize_mask(mask, SIZE)
    assert method == "nearest" and out.dtype == np.uint8 and out.shape == SIZE
    assert set(np.unique(out)) == {0, 255}


def test_resize_mask_area_fallback_keeps_a_tiny_lesion() -> None:
    mask = np.zeros((64, 48), bool)
    mask[1, 1] = True  # missed by nearest sampling at 8x6
    out, method = resize_mask(mask, (8, 6))
    assert method == "area_fallback" and out.max() == 255


# --------------------------------------------------------------------------------------------
# The same rules in the PNGs the stage writes
# --------------------------------------------------------------------------------------------


def test_png_is_16bit_with_target_shape_and_full_range(tmp_path):
    px = np.full((64, 48), 100, np.uint16)
    px[:, 24:] = 3000  # two flat halves: the resized image still holds both extremes
    dcm = write_dicom(tmp_path / "a.dcm", px, DicomHeader(patient_id="A"))
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
        _mask(box=(slice(1, 2), slice(1, 2))),
        DicomHeader(patient_id="x"),
    )
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv, size=(8, 6))
    assert res.masks.mask_resize[0] == "area_fallback"
    assert _png(res.masks.mask_png_path[0]).max() == 255
