"""Tests for patient-level stratified splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.preprocess.splits import assert_patient_disjoint, make_splits, official_side


def _images(n_patients: int = 200, seed: int = 0, official: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        positive = rng.random() < 0.4
        n_images = int(rng.integers(1, 5))
        side = "test" if rng.random() < 0.2 else "train"
        for i in range(n_images):
            label = int(positive and i == 0)
            rows.append(
                {
                    "image_id": f"P_{p:05d}_{i}",
                    "patient_id": f"P_{p:05d}",
                    "label": label,
                    "split": side if official else "",
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("mode", ["paper", "holdout"])
def test_no_patient_in_two_splits(mode: str) -> None:
    result = make_splits(_images(), mode=mode, seed=1)
    assert (result.splits.groupby("patient_id")["split"].nunique() == 1).all()


def test_paper_mode_fractions_by_patient() -> None:
    splits = make_splits(_images(400), mode="paper", seed=3).splits
    patients = splits.groupby("split")["patient_id"].nunique()
    assert patients["test"] == pytest.approx(0.15 * 400, abs=2)
    assert patients["val"] == pytest.approx(0.10 * patients[["train", "val"]].sum(), abs=2)


def test_paper_mode_is_stratified() -> None:
    splits = make_splits(_images(400), mode="paper", seed=5).splits
    rates = splits.groupby(["split", "patient_id"])["label"].max().groupby("split").mean()
    assert rates.max() - rates.min() < 0.05


def test_same_seed_same_split_other_seed_differs() -> None:
    images = _images()
    a = make_splits(images, mode="paper", seed=7).splits
    b = make_splits(images, mode="paper", seed=7).splits
    c = make_splits(images, mode="paper", seed=8).splits
    pd.testing.assert_frame_equal(a, b)
    assert not a["split"].equals(c["split"])


def test_holdout_mode_names_train_and_val() -> None:
    splits = make_splits(_images(100), mode="holdout", seed=0, val_frac=0.3).splits
    assert set(splits["split"]) == {"train", "val"}
    assert splits.groupby("split")["patient_id"].nunique()["val"] == pytest.approx(30, abs=2)


def test_official_mode_keeps_official_test_set() -> None:
    images = _images(official=True)
    splits = make_splits(images, mode="official", seed=0).splits
    official_test = set(images.loc[images["split"] == "test", "image_id"])
    assert set(splits.loc[splits["split"] == "test", "image_id"]) == official_test


def test_official_mode_reports_patient_in_both_sets() -> None:
    images = _images(50, official=True)
    twin = images.iloc[[0]].assign(image_id="twin_image", split="test")
    images = pd.concat([images.assign(split="train"), twin], ignore_index=True)
    result = make_splits(images, mode="official", seed=0, official_overlap="test")
    excluded = {e.item for e in result.exclusions}
    patient = twin["patient_id"].iloc[0]
    assert excluded == set(
        images.loc[(images.patient_id == patient) & (images.split == "train"), "image_id"]
    )
    assert set(result.splits.loc[result.splits.patient_id == patient, "split"]) == {"test"}
    assert "both official sets" in result.exclusions[0].reason


def test_official_mode_validation_only_from_train() -> None:
    images = _images(official=True)
    splits = make_splits(images, mode="official", seed=2).splits
    val_ids = set(splits.loc[splits["split"] == "val", "image_id"])
    assert val_ids and val_ids <= set(images.loc[images["split"] == "train", "image_id"])


def test_tiny_dataset_splits_without_error() -> None:
    images = _images(4)
    result = make_splits(images, mode="paper", seed=0)
    assert len(result.splits) == len(images)


def test_summary_counts_match_table() -> None:
    result = make_splits(_images(), mode="paper", seed=0)
    summary = result.summary.set_index("split")
    assert summary["images"].sum() == len(result.splits)
    assert (
        summary.loc["test", "positive_images"]
        == result.splits.query("split == 'test'")["label"].sum()
    )


def test_assert_patient_disjoint_detects_leak() -> None:
    leaked = pd.DataFrame(
        {
            "image_id": ["a", "b"],
            "patient_id": ["P1", "P1"],
            "split": ["train", "test"],
            "label": [0, 1],
        }
    )
    with pytest.raises(AssertionError, match="P1"):
        assert_patient_disjoint(leaked)


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split mode"):
        make_splits(_images(10), mode="random", seed=0)


def test_tiny_dataset_still_gets_a_validation_patient() -> None:
    splits = make_splits(_images(8), mode="paper", seed=0).splits
    assert {"train", "val", "test"} <= set(splits["split"])


def test_zero_fraction_holds_out_nobody() -> None:
    splits = make_splits(_images(20), mode="paper", seed=0, test_frac=0.0, val_frac=0.0).splits
    assert set(splits["split"]) == {"train"}


@pytest.mark.parametrize(
    ("sets", "overlap", "side"),
    [
        (["train"], "test", "train"),
        (["test", "test"], "train", "test"),
        (["train", "test"], "test", "test"),
        (["test", "train"], "train", "train"),
    ],
)
def test_official_side_is_the_agreed_set_or_the_overlap_side(sets, overlap, side) -> None:
    assert official_side(sets, overlap) == side


@pytest.mark.parametrize(("sets", "overlap"), [(["train"], "val"), (["val"], "test"), ([], "test")])
def test_official_side_rejects_other_values(sets, overlap) -> None:
    with pytest.raises(ValueError, match="official"):
        official_side(sets, overlap)
