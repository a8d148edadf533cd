"""Reading DICOM pixels: LUTs, MONOCHROME1, BitsStored, compressed syntaxes and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers.predict_cases import deflate_bomb
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, RLELossless

import e2e_mammo.preprocess.dicom as dicom
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.errors import DatasetError
from e2e_mammo.preprocess.dicom import read_header, read_image, read_image_with_info, read_mask

SECRET = "Calc-Training_P_99999_LEFT_CC"


def _pixels(high: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, high, size=(64, 48), dtype=np.uint16)


def _write(tmp_path: Path, name: str = "a.dcm", pixels: np.ndarray | None = None, **kw) -> Path:
    pixels = _pixels() if pixels is None else pixels
    return write_dicom(tmp_path / name, pixels, DicomHeader(patient_id=SECRET, **kw))


def _compressed(tmp_path: Path, pixels: np.ndarray, syntax: str, name: str) -> Path:
    src = _write(tmp_path, "src_" + name, pixels, bits_stored=12)
    ds = pydicom.dcmread(src)
    ds.compress(syntax)
    out = tmp_path / name
    ds.save_as(out)
    return out


def test_plain_image_is_float32_2d(tmp_path):
    px = _pixels()
    img = read_image(_write(tmp_path, pixels=px))
    assert img.dtype == np.float32 and img.shape == (64, 48)
    np.testing.assert_array_equal(img, px)


def test_modality_lut_rescale_applied(tmp_path):
    px = _pixels()
    img = read_image(_write(tmp_path, pixels=px, rescale=(2.0, -100.0)))
    np.testing.assert_allclose(img, px.astype(np.float64) * 2 - 100)


def test_window_applied(tmp_path):
    px = _pixels(high=4000)
    center, width = 2000.0, 1001.0
    img = read_image(_write(tmp_path, pixels=px, window=(center, width)))
    # DICOM LINEAR window (PS3.3 C.11.2.1.2.1), output range 0 .. 2**16-1
    c, w, y = center - 0.5, width - 1, 65535.0
    x = px.astype(np.float64)
    expected = np.clip(((x - c) / w + 0.5) * y, 0, y)
    expected[x <= c - w / 2] = 0
    expected[x > c + w / 2] = y
    np.testing.assert_allclose(img, expected, rtol=1e-5, atol=0.05)
    assert img.min() == 0 and img.max() == 65535


def test_first_window_used_when_multivalued(tmp_path):
    px = _pixels()
    one = read_image(_write(tmp_path, "one.dcm", px, window=(2000.0, 1001.0)))
    multi = read_image(
        _write(
            tmp_path,
            "multi.dcm",
            px,
            extra={"WindowCenter": [2000.0, 100.0], "WindowWidth": [1001.0, 50.0]},
        )
    )
    np.testing.assert_array_equal(one, multi)


def test_monochrome1_inverted_after_luts(tmp_path):
    px = _pixels(high=4000)
    kw = {"pixels": px, "bits_stored": 12, "rescale": (2.0, 10.0)}
    mono2 = read_image(_write(tmp_path, "m2.dcm", **kw))
    img, info = read_image_with_info(_write(tmp_path, "m1.dcm", photometric="MONOCHROME1", **kw))
    # possible range after the rescale: [0*2+10, 4095*2+10]
    assert info.output_range == (10.0, 8200.0)
    np.testing.assert_allclose(img, 10 + 8200 - mono2)
    assert info.photometric == "MONOCHROME1"


def test_monochrome1_inverted_over_window_range(tmp_path):
    px = _pixels(high=4000)
    kw = {"pixels": px, "window": (2000.0, 1001.0)}
    mono2 = read_image(_write(tmp_path, "m2.dcm", **kw))
    mono1 = read_image(_write(tmp_path, "m1.dcm", photometric="MONOCHROME1", **kw))
    np.testing.assert_allclose(mono1, 65535 - mono2)


def test_bits_stored_14_values_respected(tmp_path):
    px = _pixels(high=2**14)
    px[0, 0] = 2**14 - 1
    img, info = read_image_with_info(_write(tmp_path, pixels=px, bits_stored=14))
    np.testing.assert_array_equal(img, px)
    assert info.bits_stored == 14 and img.max() == 16383


def test_bits_above_bits_stored_are_masked(tmp_path):
    px = _pixels(high=100)
    px[0, 0] = 65535
    img = read_image(_write(tmp_path, pixels=px, bits_stored=14))
    assert img[0, 0] == 16383


def test_jpeg2000_lossless_read_back(tmp_path):
    px = _pixels(high=4000)
    path = _compressed(tmp_path, px, JPEG2000Lossless, "j2k.dcm")
    img, info = read_image_with_info(path)
    assert info.transfer_syntax == JPEG2000Lossless
    np.testing.assert_array_equal(img, px)


def test_rle_lossless_read_back(tmp_path):
    px = _pixels(high=4000)
    img = read_image(_compressed(tmp_path, px, RLELossless, "rle.dcm"))
    np.testing.assert_array_equal(img, px)


def test_missing_plugin_names_syntax_and_package(tmp_path, monkeypatch):
    path = _compressed(tmp_path, _pixels(), JPEG2000Lossless, "j2k.dcm")

    class _NoPlugin:
        is_available = False

    monkeypatch.setattr(dicom, "get_decoder", lambda uid: _NoPlugin())
    with pytest.raises(DatasetError) as err:
        read_image(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "JPEG 2000" in msg and JPEG2000Lossless in msg
    assert "pylibjpeg-openjpeg" in msg


def test_unsupported_syntax_names_syntax(tmp_path):
    path = _write(tmp_path, "mpeg.dcm")
    ds = pydicom.dcmread(path)
    mpeg2 = "1.2.840.10008.1.2.4.100"
    ds.file_meta.TransferSyntaxUID = mpeg2
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    with pytest.raises(DatasetError) as err:
        read_image(path)
    assert mpeg2 in str(err.value) and "MPEG2" in str(err.value)


def test_truncated_file_names_the_file(tmp_path):
    path = _write(tmp_path, "trunc.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as err:
        read_image(path)
    assert str(path) in str(err.value)
    assert SECRET not in str(err.value)


def test_not_dicom_and_missing_file(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello")
    with pytest.raises(DatasetError, match="not a DICOM file"):
        read_image(junk)
    with pytest.raises(DatasetError, match="file not found"):
        read_image(tmp_path / "absent.dcm")


def test_missing_pixel_data(tmp_path):
    path = _write(tmp_path)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(DatasetError, match="no pixel data"):
        read_image(path)


def test_multi_frame_and_colour_rejected(tmp_path):
    multi = _write(tmp_path, "multi.dcm", extra={"NumberOfFrames": 2})
    with pytest.raises(DatasetError, match="multi-frame"):
        read_image(multi)
    colour = _write(tmp_path, "rgb.dcm", extra={"SamplesPerPixel": 3})
    with pytest.raises(DatasetError, match="colour"):
        read_image(colour)


def test_read_mask_is_bool(tmp_path):
    m = np.zeros((64, 48), np.uint8)
    m[10:20, 5:9] = 255
    mask = read_mask(_write(tmp_path, "mask.dcm", m))
    assert mask.dtype == bool and mask.sum() == 40


def test_read_header_skips_pixels(tmp_path):
    ds = read_header(_write(tmp_path))
    assert ds.Rows == 64 and "PixelData" not in ds


def _float_dicom(path: Path, pixels: np.ndarray, bits_stored: bool = False) -> Path:
    """A float-pixel greyscale DICOM (FloatPixelData; BitsStored only when asked)."""
    src = _write(path.parent, "int_" + path.name)
    ds = pydicom.dcmread(src)
    del ds.PixelData
    for key in ("BitsStored", "HighBit", "PixelRepresentation"):
        if key in ds:
            delattr(ds, key)
    ds.BitsAllocated = 32
    if bits_stored:
        ds.BitsStored = 32
    ds.Rows, ds.Columns = pixels.shape
    ds.FloatPixelData = pixels.astype("<f4").tobytes()
    ds.save_as(path)
    return path


def test_float_pixels_without_bits_stored_are_read(tmp_path):
    pixels = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
    image = read_image(_float_dicom(tmp_path / "f.dcm", pixels))
    np.testing.assert_allclose(image, pixels)


def test_a_single_nan_at_the_origin_is_refused(tmp_path):
    pixels = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
    pixels[0, 0] = np.nan
    with pytest.raises(DatasetError, match="1 non-finite pixel"):
        read_image(_float_dicom(tmp_path / "nan.dcm", pixels))


def test_a_nan_block_is_refused(tmp_path):
    pixels = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
    pixels[10:20, 10:20] = np.nan
    with pytest.raises(DatasetError, match="100 non-finite pixel"):
        read_image(_float_dicom(tmp_path / "nanblock.dcm", pixels, bits_stored=True))


def test_an_infinite_pixel_is_refused(tmp_path):
    pixels = np.ones((64, 48), np.float32)
    pixels[5, 7] = np.inf
    with pytest.raises(DatasetError, match="non-finite"):
        read_image(_float_dicom(tmp_path / "inf.dcm", pixels))


def test_a_header_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    path = _write(tmp_path, extra={"Rows": 30000, "Columns": 30000})  # pixel data 64x48
    monkeypatch.setattr(dicom, "_pixels", lambda *a: pytest.fail("pixels were decoded"))
    with pytest.raises(DatasetError, match="30000x30000 pixels .* over the limit"):
        read_image(path)


def test_the_pixel_limit_is_configurable(tmp_path):
    with pytest.raises(DatasetError, match="over the limit of 1,000 pixels"):
        read_image_with_info(_write(tmp_path), max_pixels=1000)


def test_multi_frame_is_refused_before_its_pixel_data_is_read(tmp_path, monkeypatch):
    multi = _write(tmp_path, "multi.dcm", extra={"NumberOfFrames": 40})
    real_open = dicom._open

    def header_only(path, *, stop_before_pixels, max_pixels=dicom.MAX_PIXELS):
        assert stop_before_pixels, "the pixel data was read"
        return real_open(path, stop_before_pixels=True, max_pixels=max_pixels)

    monkeypatch.setattr(dicom, "_open", header_only)
    with pytest.raises(DatasetError, match="multi-frame image \\(40 frames\\)"):
        read_image(multi)


def test_a_deflate_bomb_is_refused_from_its_header_read(tmp_path):
    bomb = deflate_bomb(tmp_path / "bomb.dcm", _pixels(), 200 << 20)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DatasetError, match="inflates past"):
        read_header(bomb, max_pixels=1000)


def test_a_small_deflated_file_is_read(tmp_path):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(_write(tmp_path))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    np.testing.assert_array_equal(read_image(tmp_path / "deflated.dcm"), _pixels())
