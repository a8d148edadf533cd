"""Where patches go: overlap rule, relaxation, centred S1 box, breast tissue, background."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.patch_cases import COLS, Img, P, Roi
from helpers.patch_cases import box_of as _box
from helpers.patch_cases import breast_image as _breast_image
from helpers.patch_cases import disc as _disc
from helpers.patch_cases import mask_of as _mask_of
from helpers.patch_cases import ratio_of as _ratio
from helpers.patch_cases import ring as _ring
from helpers.patch_cases import run_patch_set as _run
from helpers.patch_cases import square as _square

from e2e_mammo.preprocess.patches import breast_mask, overlap_ratio_map
from e2e_mammo.preprocess.patches.sampling import (
    THRESHOLD_FLOOR,
    centred_box,
    draw_placements,
    sample_background_patches,
)

# --------------------------------------------------------------------------------------------
# The rules on arrays
# --------------------------------------------------------------------------------------------


def test_overlap_ratio_is_the_or_rule_for_every_box() -> None:
    mask = _disc(40, 40, 9) > 0
    ratio = overlap_ratio_map(mask, P)
    area = np.count_nonzero(mask)
    for y0, x0 in [(0, 0), (20, 25), (30, 30), (28, 33)]:
        inter = np.count_nonzero(mask[y0 : y0 + P, x0 : x0 + P])
        assert ratio[y0, x0] == pytest.approx(max(inter / (P * P), inter / area))


def test_centred_box_is_clamped_inside_the_image() -> None:
    y0, x0, clamped = centred_box(_square(2, 85, 8) > 0, P)
    assert clamped and y0 == 0 and x0 + P == COLS
    assert centred_box(_square(50, 40, 8) > 0, P)[2] is False


def test_draw_relaxes_only_for_what_the_threshold_cannot_give() -> None:
    score = np.zeros((4, 4))
    score[0, :3] = 1.0  # three placements at the threshold
    score[1, 0] = 0.8
    valid = np.ones(score.shape, dtype=bool)
    picks = draw_placements(np.random.default_rng(0), score, valid, 4, 0.9)
    assert [p.threshold for p in picks[:3]] == [0.9, 0.9, 0.9]
    assert (picks[3].y0, picks[3].x0) == (1, 0) and picks[3].threshold < 0.9
    assert picks[3].score >= picks[3].threshold
    assert not valid[0, :3].any() and not valid[1, 0]


def test_draw_stops_at_the_floor() -> None:
    score = np.full((3, 3), THRESHOLD_FLOOR / 2)
    score[0, 0] = 1.0
    picks = draw_placements(np.random.default_rng(0), score, np.ones((3, 3), bool), 3, 0.9)
    assert [(p.y0, p.x0) for p in picks] == [(0, 0)]


def test_breast_mask_keeps_the_largest_bright_blob() -> None:
    image = np.zeros((60, 60), np.uint16)
    image[10:50, 5:35] = 30000  # breast
    image[2:6, 50:56] = 30000  # a small bright label
    breast = breast_mask(image) > 0
    assert breast[30, 20] and not breast[4, 52] and not breast[30, 45]


def test_background_patches_avoid_the_roi_union_on_arrays() -> None:
    image = _breast_image(0)
    union = _square(40, 0, 40) > 0
    picks = sample_background_patches(np.random.default_rng(1), image, union, P, 5, 0.75)
    assert len(picks) == 5
    for p in picks:
        assert not union[p.y0 : p.y0 + P, p.x0 : p.x0 + P].any()


# --------------------------------------------------------------------------------------------
# The same rules in the index the stage writes
# --------------------------------------------------------------------------------------------


def test_s1_roi_patch_centred_on_mask_centroid(tmp_path: Path) -> None:
    images = [
        Img("a", rois=[Roi("1", _disc(60, 40, 6))]),
        Img("b", rois=[Roi("1", _square(50, 30, 9))]),
    ]
    result, _ = _run(tmp_path, images, name="S1")
    roi_rows = result.index[result.index["class"] > 0]
    assert len(roi_rows) == 2
    for _, row in roi_rows.iterrows():
        ys, xs = np.nonzero(_mask_of(images, row["image_id"], row["abnormality_id"]))
        assert not row["clamped"]
        assert abs(row["y0"] + (P - 1) / 2 - ys.mean()) <= 1
        assert abs(row["x0"] + (P - 1) / 2 - xs.mean()) <= 1
        assert row["y1"] - row["y0"] == P and row["x1"] - row["x0"] == P


def test_s1_patch_at_border_is_clamped_inside_image(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(2, 85, 8))])]
    result, _ = _run(tmp_path, images, name="S1")
    row = result.index[result.index["class"] > 0].iloc[0]
    assert row["clamped"]
    assert row["y0"] == 0 and row["x1"] == COLS


def test_s10_gives_ten_distinct_patches_with_overlap(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(50, 40, 16))])]
    result, _ = _run(tmp_path, images)
    rows = result.index[result.index["class"] > 0]
    assert len(rows) == 10
    assert len(set(zip(rows["y0"], rows["x0"], strict=True))) == 10
    mask = _mask_of(images, "a", "1")
    for _, row in rows.iterrows():
        assert row["threshold"] == pytest.approx(0.9)
        assert row["overlap"] >= 0.9
        assert _ratio(mask, row) == pytest.approx(row["overlap"], abs=1e-6)


def test_background_patches_avoid_every_roi(tmp_path: Path) -> None:
    first, second = _square(10, 30, 14), _disc(110, 40, 7)
    images = [Img("a", rois=[Roi("1", first), Roi("2", second, "calcification", "BENIGN")])]
    result, _ = _run(tmp_path, images)
    background = result.index[result.index["class"] == 0]
    assert len(background) == 20  # 10 per ROI
    union = (first > 0) | (second > 0)
    for _, row in background.iterrows():
        assert not _box(union, row).any()
        assert row["abnormality_id"] == ""


def test_background_breast_fraction_meets_threshold(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(60, 40, 10))])]
    result, _ = _run(tmp_path, images, min_breast_fraction=0.75)
    breast = breast_mask(_breast_image(0)) > 0
    background = result.index[result.index["class"] == 0]
    assert len(background) == 10
    for _, row in background.iterrows():
        fraction = np.count_nonzero(_box(breast, row)) / (P * P)
        assert row["threshold"] == pytest.approx(0.75)
        assert fraction >= row["threshold"]
        assert fraction == pytest.approx(row["overlap"], abs=1e-6)


def test_relaxation_recorded_for_large_sparse_roi(tmp_path: Path) -> None:
    # A thin ring far larger than the patch: no box holds 90% of it nor is 90% lesion.
    images = [Img("a", rois=[Roi("1", _ring(64, 48, 40), "calcification", "BENIGN")])]
    result, _ = _run(tmp_path, images)
    rows = result.index[result.index["class"] > 0]
    assert len(rows) == 10
    assert (rows["threshold"] < 0.9).all()
    assert (rows["overlap"] >= rows["threshold"] - 1e-6).all()
    assert len(set(zip(rows["y0"], rows["x0"], strict=True))) == 10


def test_large_solid_roi_needs_no_relaxation(tmp_path: Path) -> None:
    # OR rule: a box lying inside a large solid ROI is 100% lesion.
    images = [Img("a", rois=[Roi("1", _square(30, 20, 60))])]
    result, _ = _run(tmp_path, images)
    rows = result.index[result.index["class"] > 0]
    assert len(rows) == 10 and np.allclose(rows["threshold"], 0.9)
