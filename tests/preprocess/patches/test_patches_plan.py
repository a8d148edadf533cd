"""Pass 1 of a patch set: classes, usable ROIs, exclusions and per-image determinism."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers.patch_cases import COLS, ROWS, Img, Roi
from helpers.patch_cases import disc as _disc
from helpers.patch_cases import run_patch_set as _run
from helpers.patch_cases import square as _square

from e2e_mammo.exclusions import read_exclusions
from e2e_mammo.preprocess.patches import CLASS_NAMES, SamplingOptions, class_of
from e2e_mammo.preprocess.patches.plan import SourceImage, SourceRoi, plan_image


def _collect() -> tuple[list[tuple[str, str, str]], Callable[[str, str, str], None]]:
    found: list[tuple[str, str, str]] = []
    return found, lambda item, source, reason: found.append((item, source, reason))


def test_class_mapping() -> None:
    assert class_of("mass", "MALIGNANT") == 1
    assert class_of("mass", "BENIGN") == 2
    assert class_of("mass", "BENIGN_WITHOUT_CALLBACK") == 2
    assert class_of("calcification", "MALIGNANT") == 3
    assert class_of("calcification", "BENIGN_WITHOUT_CALLBACK") == 4
    assert class_of("architecture", "MALIGNANT") is None
    assert class_of("mass", "UNPROVEN") is None
    assert CLASS_NAMES[0] == "background"


@pytest.mark.parametrize(
    "changes",
    [{"patch_size": 0}, {"n_roi": -1}, {"min_overlap": 0}, {"background_per": "patient"}],
)
def test_invalid_sampling_options_raise(changes: dict) -> None:
    options = {"patch_size": 24, "n_roi": 1, "n_background": 1} | changes
    with pytest.raises(ValueError):
        SamplingOptions(**options)


def test_unreadable_image_is_excluded(tmp_path: Path) -> None:
    found, exclude = _collect()
    item = SourceImage("a", "P", str(tmp_path / "absent.png"), "train", "manifest.csv:2")
    assert plan_image(item, SamplingOptions(24, 1, 1), exclude) == []
    assert found == [("a", "manifest.csv:2", f"image unreadable or not greyscale: {item.png_path}")]


def test_mask_of_another_shape_is_excluded(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.full((ROWS, 96), 30000, np.uint16))
    cv2.imwrite(str(tmp_path / "m.png"), np.full((10, 10), 255, np.uint8))
    roi = SourceRoi("1", "mass", "MALIGNANT", str(tmp_path / "m.png"), "masks.csv:2")
    item = SourceImage("a", "P", str(tmp_path / "a.png"), "train", "manifest.csv:2", [roi])
    found, exclude = _collect()
    assert plan_image(item, SamplingOptions(24, 1, 1), exclude) == []
    assert [f[0] for f in found] == ["a/1", "a"]
    assert "differs from image" in found[0][2] and "no usable ROI" in found[1][2]


def test_class_mapping_in_outputs_and_unknown_pathology_excluded(tmp_path: Path) -> None:
    images = [
        Img("m", rois=[Roi("1", _square(30, 30, 10), "mass", "MALIGNANT")]),
        Img("b", rois=[Roi("1", _square(30, 30, 10), "mass", "BENIGN_WITHOUT_CALLBACK")]),
        Img("c", rois=[Roi("1", _square(30, 30, 10), "calcification", "MALIGNANT")]),
        Img("d", rois=[Roi("1", _square(30, 30, 10), "calcification", "BENIGN")]),
        Img("u", rois=[Roi("1", _square(30, 30, 10), "mass", "UNKNOWN")]),
    ]
    result, _ = _run(tmp_path, images, name="S1")
    rois = result.index[result.index["class"] > 0].set_index("image_id")
    assert rois.loc[["m", "b", "c", "d"], "class"].tolist() == [1, 2, 3, 4]
    assert rois.loc["b", "class_name"] == "benign_mass"
    assert "u" not in rois.index
    assert any(e.item == "u/1" and "UNKNOWN" in e.reason for e in result.exclusions)


def test_same_seed_same_output_other_seed_differs(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(50, 40, 16)), Roi("2", _disc(100, 30, 5))])]
    first, out1 = _run(tmp_path, images, out="o1", seed=3)
    again, out2 = _run(tmp_path, images, out="o2", seed=3)
    other, _ = _run(tmp_path, images, out="o3", seed=4)
    np.testing.assert_array_equal(np.load(out1 / "train.npy"), np.load(out2 / "train.npy"))
    pd.testing.assert_frame_equal(first.index, again.index)
    boxes = ["y0", "x0"]
    assert not first.index[boxes].equals(other.index[boxes])


def test_background_shortfall_is_an_exclusion(tmp_path: Path) -> None:
    everywhere = np.full((ROWS, COLS), 255, dtype=np.uint8)  # no box avoids the ROI
    images = [Img("a", rois=[Roi("1", everywhere)])]
    result, out = _run(tmp_path, images, name="S1")
    assert (result.index["class"] == 0).sum() == 0
    items = {e.item for e in read_exclusions(out / "exclusions.csv")}
    assert "a/background_0" in items
