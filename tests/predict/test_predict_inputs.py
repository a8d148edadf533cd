"""Finding and reading predict's inputs: the converter's pixels, and a reason for each bad one."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from helpers.convert_cases import read_png, run_convert
from helpers.predict_cases import mammogram, png_claiming, write_mammogram_dicom, write_png

import e2e_mammo.predict.inputs as inputs
from e2e_mammo.data.whole_images import read_png16
from e2e_mammo.predict.gating import DICOMDIR_CLASS, Gate, NotAnImage
from e2e_mammo.predict.inputs import InputError, InputFile, ReadOptions, find_inputs, read_input
from e2e_mammo.predict.names import Namer

PRE = {"image_size": [32, 24], "intensity": "minmax"}


def _item(path, kind):
    return InputFile(path, path.stem, kind)


def test_find_inputs_searches_a_folder_and_ignores_other_files(tmp_path):
    root = tmp_path / "in"
    write_png(root / "a" / "1_L_CC.png", mammogram(0))
    dcm = write_mammogram_dicom(root / "b" / "X.DCM", mammogram(1))
    (root / "b" / "1.2.840.5.504").write_bytes(dcm.read_bytes())  # a PACS export's UID name
    (root / "notes.txt").write_text("x")
    write_png(root / ".cache" / "h.png", mammogram(2))  # hidden: passed over
    found = find_inputs([root])
    assert [(i.image_index, i.kind) for i in found.images] == [
        ("a/1_L_CC", "png"),
        ("b/1.2.840.5.504", "dicom"),
        ("b/X", "dicom"),
    ]
    assert found.ignored == [str(root / "notes.txt")]


def test_several_inputs_keep_their_folders_in_the_index(tmp_path):
    write_png(tmp_path / "siteA" / "1_L_CC.png", mammogram(0))
    write_png(tmp_path / "siteB" / "1_L_CC.png", mammogram(1))
    found = find_inputs([tmp_path / "siteA", tmp_path / "siteB", tmp_path / "missing"])
    indices = [i.image_index for i in found.images]
    assert indices == [f"{tmp_path.as_posix()}/site{s}/1_L_CC" for s in "AB"]
    assert found.missing == [(str(tmp_path / "missing"), "no such file or folder")]


def test_files_named_directly_keep_their_path_and_clashes_are_numbered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "p1" / "L_CC.png", mammogram(0))
    write_png(tmp_path / "a.png", mammogram(1))
    write_mammogram_dicom(tmp_path / "a.dcm", mammogram(2))
    found = find_inputs(["p1/L_CC.png", "a.png", "a.dcm"])
    assert [i.image_index for i in found.images] == ["p1/L_CC", "a", "a~2"]


def test_the_output_folder_inside_the_input_is_not_searched(tmp_path):
    write_png(tmp_path / "1_L_CC.png", mammogram(0))
    write_png(tmp_path / "preds" / "heatmaps" / "1_L_CC.png", mammogram(1))
    found = find_inputs([tmp_path], exclude=tmp_path / "preds")
    assert [i.image_index for i in found.images] == ["1_L_CC"]


def test_a_named_file_of_another_type_is_tried_and_fails(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really")
    (item,) = find_inputs([photo]).images
    with pytest.raises(InputError, match="not a DICOM or PNG file"):
        read_input(item, PRE)


def test_dicom_pixels_are_the_converters(tmp_path):
    pixels = mammogram(2, (128, 96))
    dcm = write_mammogram_dicom(
        tmp_path / "m1.dcm", pixels, photometric="MONOCHROME1", window=(30000, 40000)
    )
    row = {"image_id": "m1", "patient_id": "P", "label": 0, "split": "train", "dicom_path": dcm}
    pd.DataFrame([row]).to_csv(tmp_path / "images.csv", index=False)
    result = run_convert(tmp_path / "images.csv", tmp_path / "conv", size=tuple(PRE["image_size"]))
    converted = read_png(result.manifest["png_path"].iloc[0])
    loaded = read_input(_item(dcm, "dicom"), PRE)
    np.testing.assert_array_equal(loaded.pixels, converted)


def test_monochrome1_reads_bright_where_dense(tmp_path):
    pixels = mammogram(3)
    m2 = read_input(_item(write_mammogram_dicom(tmp_path / "a.dcm", pixels), "dicom"), PRE)
    inverted = write_mammogram_dicom(
        tmp_path / "b.dcm", (65535 - pixels).astype(np.uint16), photometric="MONOCHROME1"
    )
    m1 = read_input(_item(inverted, "dicom"), PRE)
    assert np.abs(m1.pixels.astype(int) - m2.pixels.astype(int)).max() <= 1


def test_eight_bit_png_reads_like_sixteen_bit(tmp_path):
    image8 = (mammogram(4) >> 8).astype(np.uint8)
    a = read_input(_item(write_png(tmp_path / "a.png", image8), "png"), PRE)
    b = read_input(_item(write_png(tmp_path / "b.png", image8.astype(np.uint16) * 257), "png"), PRE)
    np.testing.assert_array_equal(a.pixels, b.pixels)


def test_the_converters_png_is_read_as_training_reads_it(tmp_path):
    image = mammogram(3, (32, 24))
    image[0, 0] = 5  # not stretched to 0 by a second min-max
    path = write_png(tmp_path / "c.png", image)
    np.testing.assert_array_equal(read_input(_item(path, "png"), PRE).pixels, read_png16(path))


def test_grey_with_alpha_is_accepted(tmp_path):
    grey = (mammogram(5) >> 8).astype(np.uint8)
    path = write_png(tmp_path / "ga.png", np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    assert read_input(_item(path, "png"), PRE).pixels.shape == (32, 24)


def test_grey_saved_as_rgb_is_accepted(tmp_path):
    grey = (mammogram(5) >> 8).astype(np.uint8)
    path = write_png(tmp_path / "rgb.png", np.dstack([grey] * 3))
    assert read_input(_item(path, "png"), PRE).pixels.shape == (32, 24)


def test_colour_photo_is_refused(tmp_path):
    grey = (mammogram(5) >> 8).astype(np.uint8)
    path = write_png(tmp_path / "c.png", np.dstack([grey, grey // 2, grey]))
    with pytest.raises(InputError, match="colour image"):
        read_input(_item(path, "png"), PRE)


def test_truncated_png_is_refused(tmp_path):
    path = write_png(tmp_path / "t.png", mammogram(6))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="corrupt or truncated"):
        read_input(_item(path, "png"), PRE)


def test_truncated_dicom_is_refused(tmp_path):
    path = write_mammogram_dicom(tmp_path / "t.dcm", mammogram(7))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(InputError, match="truncated"):
        read_input(_item(path, "dicom"), PRE)


def test_non_mammography_dicom_is_refused(tmp_path):
    path = write_mammogram_dicom(tmp_path / "ct.dcm", mammogram(8), modality="CT")
    with pytest.raises(InputError, match="not a mammogram: DICOM Modality is 'CT'"):
        read_input(_item(path, "dicom"), PRE)


def test_far_smaller_image_is_refused(tmp_path):
    path = write_png(tmp_path / "s.png", mammogram(9, (15, 40)))
    with pytest.raises(InputError, match="15x40, far smaller than the model's input 32x24"):
        read_input(_item(path, "png"), PRE)


def test_binary_mask_is_refused(tmp_path):
    mask = np.zeros((64, 48), np.uint8)
    mask[10:30, 10:20] = 255
    with pytest.raises(InputError, match="binary image"):
        read_input(_item(write_png(tmp_path / "m.png", mask), "png"), PRE)


def test_constant_image_is_refused(tmp_path):
    path = write_png(tmp_path / "k.png", np.full((64, 48), 900, np.uint16))
    with pytest.raises(InputError, match="constant image") as info:
        read_input(_item(path, "png"), PRE)
    assert info.value.step == "preprocess"


def test_a_name_that_is_not_utf8_is_found_and_written_printable(tmp_path):
    name = os.fsdecode("Müller_R_MLO.png".encode("latin-1"))
    os.rename(write_png(tmp_path / "a.png", mammogram(0)), tmp_path / name)
    (item,) = find_inputs([tmp_path]).images
    assert item.image_index == "M\\xfcller_R_MLO" and item.path.name == name
    assert read_input(item, PRE).views.laterality == "R"


def test_hashed_names_hide_the_folder_and_file_names(tmp_path):
    write_png(tmp_path / "Doe_Jane" / "R_CC.png", mammogram(0))
    (item,) = find_inputs([tmp_path], namer=Namer(b"k" * 16)).images
    assert "Doe" not in item.image_index + item.file and "R_CC" not in item.image_index
    assert read_input(item, PRE).views.view == "CC"  # read from the name as found


def test_a_png_header_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    path = png_claiming(tmp_path / "huge.png", 30000, 30000)
    monkeypatch.setattr(inputs.cv2, "imdecode", lambda *a: pytest.fail("the PNG was decoded"))
    with pytest.raises(InputError, match="30000x30000 pixels, over the limit"):
        read_input(_item(path, "png"), PRE)


def test_the_pixel_limit_is_an_option(tmp_path):
    path = write_png(tmp_path / "a.png", mammogram(0))
    with pytest.raises(InputError, match="over the limit of 100 pixels"):
        read_input(_item(path, "png"), PRE, ReadOptions(max_pixels=100))


def test_a_dicomdir_is_not_an_image(tmp_path):
    path = write_mammogram_dicom(tmp_path / "DICOMDIR", mammogram(0), sop_class_uid=DICOMDIR_CLASS)
    with pytest.raises(NotAnImage, match="DICOMDIR"):
        read_input(_item(path, "dicom"), PRE)


def test_a_structured_report_is_not_an_image(tmp_path):
    path = write_mammogram_dicom(tmp_path / "sr.dcm", mammogram(0), modality="SR")
    with pytest.raises(NotAnImage, match="structured report"):
        read_input(_item(path, "dicom"), PRE)


def test_a_for_processing_image_is_refused_unless_allowed(tmp_path):
    path = write_mammogram_dicom(
        tmp_path / "raw.dcm", mammogram(0), extra={"PresentationIntentType": "FOR PROCESSING"}
    )
    with pytest.raises(InputError, match="FOR PROCESSING"):
        read_input(_item(path, "dicom"), PRE)
    allowed = ReadOptions(gate=Gate(allow_for_processing=True))
    assert read_input(_item(path, "dicom"), PRE, allowed).pixels.shape == (32, 24)


def test_burned_in_annotation_is_flagged(tmp_path):
    path = write_mammogram_dicom(
        tmp_path / "b.dcm", mammogram(0), extra={"BurnedInAnnotation": "YES"}
    )
    assert read_input(_item(path, "dicom"), PRE).burned_in
