"""Nested, stratified, seeded patient subsets of a training split (Table 4)."""

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.preprocess.subsets import (
    nested_subsets,
    size_label,
    subset_counts,
    subset_images,
    subset_patient_count,
)


def _images(n_pos: int, n_neg: int, per_patient: int = 2) -> pd.DataFrame:
    rows = []
    for i in range(n_pos + n_neg):
        for v in range(per_patient):
            label = int(i < n_pos and v == 0)  # a positive patient has one malignant image
            rows.append((f"I{i}_{v}", f"P{i:03d}", label))
    return pd.DataFrame(rows, columns=["image_id", "patient_id", "label"])


def _positive_patients(images: pd.DataFrame, patients: set[str]) -> int:
    part = images[images["patient_id"].isin(patients)]
    return int((part.groupby("patient_id")["label"].max() == 1).sum())


def test_size_labels_are_canonical() -> None:
    assert size_label(20) == "20" and size_label(" ALL ") == "all" and size_label("020") == "20"


@pytest.mark.parametrize("bad", [0, -3, "some", 2.5])
def test_bad_size_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="subset size"):
        size_label(bad)


def test_reference_split_gets_exact_sizes() -> None:
    assert subset_patient_count(20, 72, 72) == 20
    assert subset_patient_count("all", 72, 72) == 72


def test_other_split_gets_the_same_fraction() -> None:
    assert subset_patient_count(20, 50, 72) == 14  # 20/72 of 50 = 13.9
    assert subset_patient_count(60, 36, 72) == 30
    assert subset_patient_count(1, 10, 72) == 2  # at least one patient per class
    assert subset_patient_count(100, 10, 72) == 10  # never more than the split has


def test_subsets_are_nested_for_every_seed() -> None:
    images = _images(9, 21)
    for seed in range(20):
        subsets = nested_subsets(images, [4, 9, 13, 20, 30], seed)
        sizes = sorted(subsets)
        for small, large in zip(sizes, sizes[1:], strict=False):
            assert subsets[small] <= subsets[large]
        assert all(len(subsets[n]) == n for n in sizes)


def test_subsets_keep_the_label_proportion() -> None:
    images = _images(10, 30)
    subsets = nested_subsets(images, [8, 20, 40], seed=3)
    assert [_positive_patients(images, subsets[n]) for n in (8, 20, 40)] == [2, 5, 10]


def test_small_subset_keeps_both_classes() -> None:
    images = _images(2, 30)
    assert _positive_patients(images, nested_subsets(images, [3], seed=1)[3]) == 1


def test_seed_decides_the_subset() -> None:
    images = _images(10, 30)
    a, b = (nested_subsets(images, [10], seed=s)[10] for s in (1, 2))
    assert a != b
    assert nested_subsets(images, [10], seed=1)[10] == a


def test_subset_does_not_depend_on_other_sizes_requested() -> None:
    images = _images(10, 30)
    alone = nested_subsets(images, [12], seed=5)[12]
    assert nested_subsets(images, [6, 12, 30], seed=5)[12] == alone


def test_too_large_subset_is_an_error() -> None:
    with pytest.raises(ValueError, match="41 patients from 40"):
        nested_subsets(_images(10, 30), [41], seed=0)


def test_subset_images_and_counts() -> None:
    images = _images(10, 26)
    subset = subset_images(images, 20, seed=0, reference_patients=72)  # 20/72 of 36 = 10
    counts = subset_counts(subset)
    assert counts["n_patients"] == 10 and counts["n_images"] == 20
    assert counts["n_malignant_images"] == int(np.round(10 * 10 / 36))
    assert len(subset_images(images, "all", seed=0, reference_patients=72)) == len(images)
