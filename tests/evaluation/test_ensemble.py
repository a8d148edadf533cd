import math

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.evaluation.ensemble import (
    average_predictions,
    ensemble_summary,
    select_family_members,
)
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


FAMILIES = ("Resnet-Resnet", "Resnet-VGG", "VGG-VGG", "VGG-Resnet")


def test_one_member_per_family_where_plain_top4_would_drop_a_family():
    # by validation A-AUC the top four are three ResNet-ResNet rows and a hybrid; the paper's
    # ensemble takes each family's best instead
    candidates = {
        "rr1": ("Resnet-Resnet", 0.90),
        "rr2": ("Resnet-Resnet", 0.89),
        "rr3": ("Resnet-Resnet", 0.88),
        "rv": ("Resnet-VGG", 0.87),
        "vv": ("VGG-VGG", 0.70),
        "vr": ("VGG-Resnet", 0.75),
    }
    choice = select_family_members(candidates, FAMILIES)
    assert choice.members == ["rr1", "rv", "vr", "vv"]
    assert choice.family == {"rr1": "Resnet-Resnet", "rv": "Resnet-VGG", "vr": "VGG-Resnet"} | {
        "vv": "VGG-VGG"
    }
    assert choice.missing == []


def test_rows_of_no_family_are_never_members():
    candidates = {"hm": (None, 0.99), "fc": (None, 0.98), "rr": ("Resnet-Resnet", 0.5)}
    assert select_family_members(candidates, FAMILIES).members == ["rr"]


def test_a_family_without_a_candidate_is_named_missing():
    choice = select_family_members({"rr": ("Resnet-Resnet", 0.8)}, FAMILIES)
    assert choice.missing == ["Resnet-VGG", "VGG-VGG", "VGG-Resnet"]


def test_family_selection_breaks_ties_by_name_and_skips_nan():
    candidates = {"z": ("VGG-VGG", 0.9), "a": ("VGG-VGG", 0.9), "n": ("Resnet-VGG", math.nan)}
    choice = select_family_members(candidates, FAMILIES)
    assert choice.members == ["a"] and "Resnet-VGG" in choice.missing


def test_family_selection_without_any_candidate_names_the_rows():
    with pytest.raises(ValueError, match=r"candidates \['hm'\]"):
        select_family_members({"hm": (None, 0.9)}, FAMILIES)


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
