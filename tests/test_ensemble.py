import math

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.evaluation.ensemble import average_predictions, ensemble_summary, select_members
from e2e_mammo.evaluation.operating_point import youden_threshold


def _member(scores, order=None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "split": ["val", "val", "test", "test"],
            "row": [0, 1, 0, 1],
            "image_id": ["a", "b", "c", "d"],
            "patient_id": ["p1", "p1", "p2", "p3"],
            "label": [0, 1, 0, 1],
            "tta_prob_malignant": scores,
        }
    )
    return frame if order is None else frame.iloc[order]


def test_selection_takes_the_best_validation_aucs_best_first():
    aucs = {"a": 0.80, "b": 0.90, "c": 0.85, "d": 0.70, "e": 0.60}
    assert select_members(aucs, k=3) == ["b", "c", "a"]


def test_selection_breaks_ties_by_name():
    assert select_members({"z": 0.9, "a": 0.9, "m": 0.8}, k=2) == ["a", "z"]


def test_selection_never_takes_a_nan_auc():
    assert select_members({"a": math.nan, "b": 0.5, "c": 0.6}, k=2) == ["c", "b"]


def test_selection_with_too_few_candidates_names_them():
    with pytest.raises(ValueError, match=r"found 1: \['b'\]"):
        select_members({"a": math.nan, "b": 0.5}, k=2)


def test_average_is_the_mean_of_members_matched_by_key():
    frames = {
        "r": _member([0.1, 0.6, 0.2, 0.9]),
        "v": _member([0.4, 0.8, 0.3, 0.5], order=[3, 2, 1, 0]),
    }
    out = average_predictions(frames)
    assert list(out.columns) == [
        "split", "image_id", "patient_id", "label", "score", "score_r", "score_v",
    ]  # fmt: skip
    assert list(out["image_id"]) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(out["score"], [0.25, 0.7, 0.25, 0.7])
    np.testing.assert_allclose(out["score_v"], [0.4, 0.8, 0.3, 0.5])
    assert list(out["patient_id"]) == ["p1", "p1", "p2", "p3"]


def test_a_member_missing_keys_is_an_error():
    frames = {"r": _member([0.1] * 4), "v": _member([0.2] * 4).iloc[:3]}
    with pytest.raises(ValueError, match="member 'v'.* on 1 keys"):
        average_predictions(frames)


def test_a_member_with_other_labels_is_an_error():
    other = _member([0.2] * 4).assign(label=[0, 1, 1, 0])
    with pytest.raises(ValueError, match="member 'v'.* on 2 keys"):
        average_predictions({"r": _member([0.1] * 4), "v": other})


def _averaged() -> pd.DataFrame:
    # val's Youden threshold is 0.5; test's own would be 0.3.
    val_labels, val_scores = [0, 0, 1, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    test_labels, test_scores = [0, 0, 1, 1, 0, 1], [0.1, 0.2, 0.3, 0.45, 0.55, 0.6]
    return pd.DataFrame(
        {
            "split": ["val"] * 7 + ["test"] * 6,
            "image_id": [f"i{k}" for k in range(13)],
            "patient_id": [f"p{k // 2}" for k in range(13)],
            "label": val_labels + test_labels,
            "score": val_scores + test_scores,
        }
    )


def test_summary_takes_the_threshold_from_val_and_rates_from_test():
    averaged = _averaged()
    test = averaged[averaged["split"] == "test"]
    assert youden_threshold(test["label"], test["score"]) == 0.3
    summary = ensemble_summary(averaged, members=["r", "v"], dataset="cbis", n_boot=100)
    assert set(summary) == {
        "dataset", "members", "eval_split", "auc", "ci_low", "ci_high", "n",
        "threshold", "threshold_split", "sensitivity", "specificity", "note",
    }  # fmt: skip
    assert summary["members"] == "r;v" and summary["n"] == 6 and summary["note"] == ""
    assert summary["threshold"] == 0.5
    assert summary["sensitivity"] == pytest.approx(1 / 3)
    assert summary["specificity"] == pytest.approx(2 / 3)
    assert summary["ci_low"] <= summary["auc"] <= summary["ci_high"]


def test_summary_without_a_usable_threshold_split_says_why():
    averaged = _averaged()
    averaged = averaged[(averaged["split"] == "test") | (averaged["label"] == 1)]
    summary = ensemble_summary(averaged, members=["r"], dataset="cbis", n_boot=50)
    assert math.isnan(summary["threshold"]) and math.isnan(summary["sensitivity"])
    assert "one class" in summary["note"] and not math.isnan(summary["auc"])


def test_summary_at_a_fixed_threshold_chooses_nothing_on_any_split():
    summary = ensemble_summary(_averaged(), members=["r"], dataset="inbreast", threshold=0.35)
    assert summary["threshold"] == 0.35 and summary["threshold_split"] == "fixed"
    assert summary["note"] == "" and not math.isnan(summary["sensitivity"])
