import math

import numpy as np
import pytest

from e2e_mammo.evaluation.operating_point import sensitivity_specificity, youden_threshold

LABELS = np.array([0, 0, 1, 0, 1, 1, 1])
SCORES = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])


def test_youden_picks_the_threshold_of_largest_j():
    # t=0.5: sens 3/4, spec 1 (J 0.75); t=0.3: sens 1, spec 2/3 (J 0.67).
    assert youden_threshold(LABELS, SCORES) == 0.5


def test_sensitivity_specificity_call_scores_at_the_threshold_positive():
    assert sensitivity_specificity(LABELS, SCORES, 0.5) == (0.75, 1.0)
    sens, spec = sensitivity_specificity(LABELS, SCORES, 0.3)
    assert sens == 1.0 and spec == pytest.approx(2 / 3)


def test_equal_j_goes_to_the_highest_threshold_exactly():
    # J = 1/3 at 0.9 and 2/3 - 1/3 at 0.7: equal, though not in floating point.
    labels = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert youden_threshold(labels, scores) == 0.9


def test_tied_scores_share_one_threshold():
    # t=0.9: J 1/3; t=0.6 (one negative, two positives): J 1 - 1/2; t=0.2: J 0.
    labels = np.array([0, 1, 0, 1, 1])
    scores = np.array([0.2, 0.6, 0.6, 0.6, 0.9])
    assert youden_threshold(labels, scores) == 0.6
    assert sensitivity_specificity(labels, scores, 0.6) == (1.0, 0.5)


def test_one_class_gives_nan():
    assert math.isnan(youden_threshold(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3])))
    sens, spec = sensitivity_specificity(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3]), 0.2)
    assert math.isnan(sens) and spec == pytest.approx(1 / 3)


def test_nan_threshold_gives_nan_rates():
    sens, spec = sensitivity_specificity(LABELS, SCORES, math.nan)
    assert math.isnan(sens) and math.isnan(spec)
