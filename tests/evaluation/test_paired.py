"""The paired patient-level bootstrap of a difference of AUCs, and its verdicts."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from e2e_mammo.evaluation.paired import VERDICTS, paired_auc_difference, verdict


def _data(n_patients=40, per_patient=2, seed=0):
    """Labels (one per patient, repeated), patient ids, a perfect and a noise score."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_patients) % 2, per_patient)
    groups = np.repeat([f"P{i}" for i in range(n_patients)], per_patient)
    perfect = labels + rng.uniform(0, 0.5, len(labels))
    noise = rng.uniform(0, 1, len(labels))
    return labels, groups, perfect, noise


def test_point_difference_is_the_difference_of_sklearn_aucs():
    labels, groups, perfect, noise = _data()
    mixed = perfect + np.random.default_rng(1).normal(0, 0.5, len(labels))
    out = paired_auc_difference(labels, groups, [mixed], [noise], n_boot=100)
    expected = roc_auc_score(labels, mixed) - roc_auc_score(labels, noise)
    assert out["difference"] == pytest.approx(expected)
    assert out["auc_a"] == pytest.approx(roc_auc_score(labels, mixed))
    assert out["aucs_b"] == [pytest.approx(roc_auc_score(labels, noise))]
    assert out["n"] == 80 and out["n_patients"] == 40 and out["n_boot"] == 100


def test_exact_tie_gives_zero_interval_and_cannot_tell():
    labels, groups, _, noise = _data()
    out = paired_auc_difference(labels, groups, [noise], [noise.copy()], n_boot=200)
    assert out["difference"] == 0 and out["ci_low"] == 0 and out["ci_high"] == 0
    assert verdict(out["ci_low"], out["ci_high"]) == "cannot tell"


def test_clear_gain_holds_and_clear_loss_is_contradicted():
    labels, groups, perfect, noise = _data()
    gain = paired_auc_difference(labels, groups, [perfect], [noise], n_boot=200)
    assert gain["ci_low"] > 0 and verdict(gain["ci_low"], gain["ci_high"]) == "holds"
    loss = paired_auc_difference(labels, groups, [noise], [perfect], n_boot=200)
    assert verdict(loss["ci_low"], loss["ci_high"]) == "contradicted"
    assert verdict(loss["ci_low"], loss["ci_high"], direction=-1) == "holds"


def test_same_seed_same_result_and_another_seed_another_interval():
    labels, groups, perfect, noise = _data()
    mixed = perfect + np.random.default_rng(2).normal(0, 0.6, len(labels))
    first = paired_auc_difference(labels, groups, [mixed], [noise], n_boot=200, seed=3)
    again = paired_auc_difference(labels, groups, [mixed], [noise], n_boot=200, seed=3)
    other = paired_auc_difference(labels, groups, [mixed], [noise], n_boot=200, seed=4)
    assert first == again
    assert (first["ci_low"], first["ci_high"]) != (other["ci_low"], other["ci_high"])


def test_resampling_is_by_patient():
    # four identical images per patient: resampling images would treat them as independent
    labels, groups, perfect, noise = _data(n_patients=30, per_patient=1, seed=4)
    mixed = perfect + np.random.default_rng(5).normal(0, 0.6, len(labels))
    labels, groups = np.repeat(labels, 4), np.repeat(groups, 4)
    mixed, noise = np.repeat(mixed, 4), np.repeat(noise, 4)
    by_patient = paired_auc_difference(labels, groups, [mixed], [noise], n_boot=400)
    by_image = paired_auc_difference(labels, np.arange(120), [mixed], [noise], n_boot=400)
    assert by_patient["n_patients"] == 30 and by_image["n_patients"] == 120
    assert by_patient["difference"] == by_image["difference"]
    width = by_patient["ci_high"] - by_patient["ci_low"]
    assert width > 1.5 * (by_image["ci_high"] - by_image["ci_low"])


def test_several_arrays_per_side_average_their_aucs():
    labels, groups, perfect, noise = _data()
    other = np.random.default_rng(7).uniform(0, 1, len(labels))
    out = paired_auc_difference(labels, groups, [perfect, noise], [other], n_boot=50)
    aucs = [roc_auc_score(labels, perfect), roc_auc_score(labels, noise)]
    assert out["aucs_a"] == pytest.approx(aucs)
    assert out["auc_a"] == pytest.approx(np.mean(aucs))
    assert out["difference"] == pytest.approx(np.mean(aucs) - roc_auc_score(labels, other))


def test_one_class_gives_nan_and_no_resamples():
    out = paired_auc_difference([1, 1, 1], ["a", "b", "c"], [[0.1, 0.2, 0.3]], [[0.3, 0.2, 0.1]])
    assert math.isnan(out["difference"]) and out["n_boot"] == 0
    assert verdict(out["ci_low"], out["ci_high"]) == "cannot tell"


@pytest.mark.parametrize(
    "side_a, side_b, groups, message",
    [
        ([[0.1, 0.2, 0.3]], [[0.1, 0.2, 0.3, 0.4]], "abcd", r"side_a\[0\] has shape"),
        ([0.1, 0.2, 0.3, 0.4], [[0.1, 0.2, 0.3, 0.4]], "abcd", "side_a"),
        ([], [[0.1, 0.2, 0.3, 0.4]], "abcd", "at least one"),
        ([[0.1, 0.2, 0.3, 0.4]], [[0.1, np.nan, 0.3, 0.4]], "abcd", "non-finite"),
        ([[0.1, 0.2, 0.3, 0.4]], [[0.1, 0.2, 0.3, 0.4]], "abc", "groups has 3"),
    ],
)
def test_bad_shapes_raise(side_a, side_b, groups, message):
    with pytest.raises(ValueError, match=message):
        paired_auc_difference([0, 1, 0, 1], list(groups), side_a, side_b)


def test_verdict_edges():
    assert verdict(0.0, 0.0) == "cannot tell" and verdict(0.0, 0.1) == "cannot tell"
    assert verdict(math.nan, 0.1) == "cannot tell" and verdict(None, None) == "cannot tell"
    assert verdict(-0.2, -0.1, direction=-1) == "holds"
    assert verdict(0.1, 0.2, direction=-1) == "contradicted"
    assert set(VERDICTS) >= {"holds", "contradicted", "cannot tell", "not run"}
    with pytest.raises(ValueError, match="direction"):
        verdict(0.1, 0.2, direction=0)
