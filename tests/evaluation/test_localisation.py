"""The pointing game on constructed heatmaps with known lesion boxes."""

import math

import numpy as np
import pytest

from e2e_mammo.evaluation.localisation import (
    Pointing,
    cell_centres,
    heatmap_on_image,
    hit_rate,
    lesion_box,
    point,
)


def test_a_lesions_box_spans_its_foreground() -> None:
    mask = np.zeros((10, 8), dtype=bool)
    mask[2:5, 3:7] = True
    assert lesion_box(mask) == (2, 3, 5, 7)
    assert lesion_box(np.zeros((4, 4))) is None


def test_a_cells_centre_is_its_patchs() -> None:
    # a 2-cell window at stride 32: cell 0 covers pixels 0-63, cell 1 covers 32-95
    assert list(cell_centres(3, 2)) == [32.0, 64.0, 96.0]


def test_a_heatmap_on_the_image_puts_each_cell_at_its_patchs_centre() -> None:
    heat = np.zeros((3, 2), dtype=np.float32)
    heat[1, 1] = 1.0  # window 2: centred at pixel (32 + 32, 32 + 32) = (64, 64)
    placed = heatmap_on_image(heat, (128, 96), window=2)
    assert placed.shape == (128, 96)
    peak = np.unravel_index(int(np.argmax(placed)), placed.shape)
    assert abs(peak[0] - 63.5) <= 0.5 and abs(peak[1] - 63.5) <= 0.5
    assert placed[0, 0] == pytest.approx(0.0) and placed.max() == pytest.approx(1.0, abs=0.02)


def test_a_peak_on_the_lesion_hits() -> None:
    heat = np.zeros((6, 5))
    heat[3, 2] = 1.0  # centred at (3 * 32 + 16, 2 * 32 + 16) = (112, 80)
    result = point(heat, [(100, 70, 120, 90)], window=1)
    assert result.hit and result.peak == (3, 2)


def test_a_peak_one_patch_away_still_hits_two_patches_away_misses() -> None:
    box = [(100, 70, 120, 90)]  # one patch (32 px) of tolerance: rows 68-151, cols 38-121
    near, far = np.zeros((8, 6)), np.zeros((8, 6))
    near[4, 2] = 1.0  # centre row 144: inside the widened box
    far[5, 2] = 1.0  # centre row 176: outside
    assert point(near, box, window=1).hit and not point(far, box, window=1).hit


def test_the_chance_rate_is_the_share_of_cells_that_would_hit() -> None:
    heat = np.zeros((4, 4))
    result = point(heat, [(0, 0, 1, 1)], window=1)  # widened: rows and cols -32 to 33
    assert result.chance == pytest.approx(1 / 16)  # only cell (0, 0), centre (16, 16)


def test_a_heatmap_without_lesions_is_refused() -> None:
    with pytest.raises(ValueError, match="lesion box"):
        point(np.zeros((2, 2)), [], window=1)


def _results(hits: list[bool], chance: float) -> list[tuple[str, Pointing]]:
    return [(f"p{i}", Pointing(h, chance, (0, 0))) for i, h in enumerate(hits)]


def test_all_hits_against_a_low_chance_rate_is_above_chance() -> None:
    rate = hit_rate(_results([True] * 20, 0.1), n_boot=200)
    assert (rate.hits, rate.hit_rate, rate.verdict) == (20, 1.0, "above chance")


def test_all_misses_against_a_high_chance_rate_is_below_chance() -> None:
    assert hit_rate(_results([False] * 20, 0.6), n_boot=200).verdict == "below chance"


def test_a_coin_toss_at_chance_is_not_decided() -> None:
    rate = hit_rate(_results([True, False] * 10, 0.5), n_boot=500)
    assert rate.ci_low < 0.5 < rate.ci_high and rate.verdict == "not decided"


def test_patients_are_resampled_whole() -> None:
    # one patient with 9 hits and one with a miss: each resample holds whole patients
    results = [("a", Pointing(True, 0.1, (0, 0)))] * 9 + [("b", Pointing(False, 0.1, (0, 0)))]
    rate = hit_rate(results, n_boot=300)
    assert rate.n_patients == 2 and rate.n_images == 10
    assert rate.ci_low == pytest.approx(0.0) and rate.ci_high == pytest.approx(1.0)


def test_too_few_patients_get_no_verdict() -> None:
    rate = hit_rate(_results([True] * 9, 0.1), n_boot=100)
    assert rate.hit_rate == 1.0 and rate.verdict.startswith("not decided (fewer than 10")


def test_no_image_gives_no_rate_and_says_why() -> None:
    rate = hit_rate([])
    assert rate.n_images == 0 and math.isnan(rate.hit_rate) and "no malignant" in rate.verdict
