import logging
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from e2e_mammo.constants import PATCH_CLASSES
from e2e_mammo.evaluation.two_step import (
    CUTOFFS,
    feature_names,
    fit_random_forest,
    region_features,
    two_step_scores,
)


def _background(h: int = 20, w: int = 20) -> np.ndarray:
    heatmap = np.zeros((len(PATCH_CLASSES), h, w))
    heatmap[0] = 1.0
    return heatmap


def _features(heatmap: np.ndarray) -> dict[str, float]:
    return dict(zip(feature_names(), region_features(heatmap), strict=True))


def test_one_blob_gives_its_area_axes_and_values():
    heatmap = _background()
    heatmap[:, 2:7, 3:10] = 0.0  # 5 rows x 7 columns
    heatmap[PATCH_CLASSES.index("malignant_mass"), 2:7, 3:10] = 0.5
    heatmap[PATCH_CLASSES.index("malignant_calcification"), 2:7, 3:10] = 0.3
    heatmap[PATCH_CLASSES.index("background"), 2:7, 3:10] = 0.2
    f = _features(heatmap)
    assert f["malignant_t0.7_n_regions"] == 1
    assert f["malignant_t0.7_largest_area"] == f["malignant_t0.7_area_fraction"] == 35 / 400
    # Variance of k consecutive cells is (k^2 - 1) / 12: 4 for 7 columns, 2 for 5 rows.
    assert f["malignant_t0.7_largest_major_axis"] == pytest.approx(8.0)
    assert f["malignant_t0.7_largest_minor_axis"] == pytest.approx(4 * math.sqrt(2))
    assert f["malignant_t0.7_largest_mean"] == pytest.approx(0.8)
    assert f["malignant_t0.7_largest_max"] == pytest.approx(0.8)
    assert f["malignant_t0.9_n_regions"] == 0 and f["malignant_t0.9_largest_area"] == 0
    assert f["malignant_max"] == pytest.approx(0.8)
    assert f["malignant_mean"] == pytest.approx(0.8 * 35 / 400)
    assert f["benign_max"] == 0


def test_regions_are_eight_connected_and_the_largest_is_described():
    heatmap = _background()
    benign = PATCH_CLASSES.index("benign_mass")
    heatmap[benign, 0, 0] = heatmap[benign, 1, 1] = 0.6  # diagonal neighbours: one region
    heatmap[benign, 10:13, 10] = 0.95  # a vertical line of three cells
    f = _features(heatmap)
    assert f["benign_t0.5_n_regions"] == 2
    assert f["benign_t0.5_largest_area"] == 3 / 400
    assert f["benign_t0.5_largest_major_axis"] == pytest.approx(4 * math.sqrt(8 / 12))
    assert f["benign_t0.5_largest_minor_axis"] == 0
    assert f["benign_t0.5_largest_max"] == pytest.approx(0.95)
    assert f["benign_t0.9_n_regions"] == 1


def test_empty_maps_give_zeros_never_nan():
    values = region_features(_background())
    assert np.isfinite(values).all() and not values.any()


def test_feature_names_match_the_vector():
    assert len(feature_names()) == len(region_features(_background())) == 2 * (2 + 7 * 4)
    assert len(set(feature_names())) == len(feature_names())
    assert "malignant_t0.5_largest_area" in feature_names(CUTOFFS)
    assert len(region_features(_background(), cutoffs=(0.5,))) == len(feature_names((0.5,)))


def test_a_heatmap_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="must be"):
        region_features(np.zeros((3, 4, 4)))


def test_random_forest_learns_a_separable_toy_problem():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = np.c_[y + 0.1 * rng.random(60), rng.random(60)]
    model = fit_random_forest(X, y, n_estimators=10, min_samples_split=2)
    assert roc_auc_score(y, two_step_scores(model, X)) == 1.0


def test_a_split_larger_than_the_data_is_warned_about(caplog):
    y = np.array([0, 1] * 5)
    with caplog.at_level(logging.WARNING, logger="e2e_mammo.evaluation.two_step"):
        model = fit_random_forest(np.c_[y], y, n_estimators=3)
    assert "single leaf" in caplog.text
    scores = two_step_scores(model, np.c_[y])
    assert np.ptp(scores) == 0  # single leaves: one score for every input


def test_scores_of_a_forest_trained_on_one_class_are_refused():
    model = fit_random_forest(np.zeros((4, 1)), np.zeros(4, dtype=int), n_estimators=2)
    with pytest.raises(ValueError, match="both 0 and 1"):
        two_step_scores(model, np.zeros((2, 1)))
