import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from e2e_mammo.evaluation.bootstrap import _weighted_auc, auc_with_ci


def _noisy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, rng.random(n) + 0.4 * labels


def test_perfect_separation_gives_auc_one_and_a_degenerate_interval():
    labels = np.array([0, 0, 0, 1, 1, 1])
    result = auc_with_ci(labels, labels + 0.1 * np.arange(6), n_boot=200)
    assert result["auc"] == 1.0
    assert (result["ci_low"], result["ci_high"]) == (1.0, 1.0)
    assert result["n"] == 6 and 0 < result["n_boot"] <= 200


def test_point_estimate_is_sklearns_and_lies_in_the_interval():
    labels, scores = _noisy(120)
    result = auc_with_ci(labels, scores, n_boot=300)
    assert result["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["ci_low"] < result["auc"] < result["ci_high"]


def test_same_seed_gives_the_same_interval_and_another_seed_another():
    labels, scores = _noisy(80)
    first = auc_with_ci(labels, scores, n_boot=200, seed=3)
    assert auc_with_ci(labels, scores, n_boot=200, seed=3) == first
    assert auc_with_ci(labels, scores, n_boot=200, seed=4) != first


def test_resample_auc_equals_sklearn_on_the_resample_spelled_out_with_ties():
    labels, scores = _noisy(60, seed=1)
    scores = np.round(scores, 1)  # many ties
    counts = np.random.default_rng(2).integers(0, 3, size=(4, 60))
    got = _weighted_auc(labels == 1, scores, counts.astype(float))
    expected = [roc_auc_score(np.repeat(labels, c), np.repeat(scores, c)) for c in counts]
    np.testing.assert_allclose(got, expected)


def test_patients_are_resampled_as_wholes():
    labels, scores = _noisy(40, seed=5)
    copies = 5  # every patient has five identical images
    dup_labels, dup_scores = np.repeat(labels, copies), np.repeat(scores, copies)
    patients = np.repeat(np.arange(40), copies)
    by_patient = auc_with_ci(dup_labels, dup_scores, patients, n_boot=300, seed=1)
    by_image = auc_with_ci(dup_labels, dup_scores, n_boot=300, seed=1)
    # Drawing a patient draws all five copies: the same as resampling the 40 distinct images.
    assert by_patient == {**auc_with_ci(labels, scores, n_boot=300, seed=1), "n": 200}
    width = by_patient["ci_high"] - by_patient["ci_low"]
    assert width > 1.8 * (by_image["ci_high"] - by_image["ci_low"])


def test_one_class_gives_nan_without_error():
    result = auc_with_ci(np.ones(5, dtype=int), np.linspace(0, 1, 5), n_boot=50)
    assert all(math.isnan(result[k]) for k in ("auc", "ci_low", "ci_high"))
    assert result["n"] == 5 and result["n_boot"] == 0


def test_labels_other_than_zero_one_are_rejected():
    with pytest.raises(ValueError, match="0/1"):
        auc_with_ci(np.array([0, 2]), np.array([0.1, 0.9]))


def test_prediction_auc_reads_a_predictions_table_and_says_none_when_undefined():
    import pandas as pd

    from e2e_mammo.evaluation.bootstrap import prediction_auc

    table = pd.DataFrame(
        {"label": [0, 1, 0, 1], "s": [0.1, 0.9, 0.4, 0.3], "patient_id": ["a", "a", "b", "b"]}
    )
    stats = prediction_auc(table, "s", n_boot=50, seed=0)
    assert stats["auc"] == 0.75 and stats["ci_low"] <= 0.75 <= stats["ci_high"]
    one_class = prediction_auc(table.assign(label=1), "s", n_boot=50)
    assert one_class == {"auc": None, "ci_low": None, "ci_high": None}
