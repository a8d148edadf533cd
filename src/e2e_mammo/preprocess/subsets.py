"""Nested, stratified patient subsets of a training split (paper section 3.2.2, Table 4).

The paper fine-tunes on training subsets of 20, 30, 40, 50 and 60 of INbreast's 72 training
patients and on all of them. Here a size is a number of patients of that reference split
(``reference_patients``, 72) or ``"all"``; on a dataset with another number of training patients
(the synthetic INbreast) a size becomes the same fraction of its training patients
(:func:`subset_patient_count`).

Subsets are drawn per seed (:func:`nested_subsets`): the patients of each label stratum (1 when
any of the patient's images is malignant) are shuffled once by a generator seeded from ``seed``,
and a subset of ``n`` patients takes the first ``round(n * positive share)`` positive and the
first ``n - that`` negative patients of that order. Both counts grow with ``n``, so every larger
subset holds every smaller one (nested), and every subset keeps the split's label proportion as
closely as whole patients allow (stratified).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from e2e_mammo.plan.transfer_cells import ALL, size_label
from e2e_mammo.preprocess.splits import patient_labels


def subset_patient_count(size: int | str, n_patients: int, reference_patients: int) -> int:
    """Patients of a training split of ``n_patients`` in a subset of ``size`` reference patients.

    ``"all"`` is every patient; a number ``s`` is ``round(s / reference_patients * n_patients)``
    (exactly ``s`` on the reference split itself), at least 2 (one per class) and at most
    ``n_patients``.
    """
    label = size_label(size)
    if n_patients < 1:
        raise ValueError("the training split has no patients")
    if reference_patients < 1:
        raise ValueError(f"reference_patients must be >= 1, got {reference_patients}")
    if label == ALL:
        return n_patients
    wanted = int(round(int(label) / reference_patients * n_patients))
    return int(min(n_patients, max(2, wanted)))


def _stratum_order(labels: pd.Series, label: int, seed: int) -> list[str]:
    members = np.array(sorted(labels.index[labels == label]), dtype=object)
    np.random.default_rng([int(seed), int(label)]).shuffle(members)
    return [str(p) for p in members]


def nested_subsets(images: pd.DataFrame, counts: Iterable[int], seed: int) -> dict[int, set[str]]:
    """Patient subsets of ``images`` (columns ``patient_id``, ``label``), one per count.

    Nested and stratified as the module doc says; the same ``seed`` gives the same subsets.
    """
    labels = patient_labels(images)
    if labels.empty:
        raise ValueError("no patients to draw subsets from")
    order = {label: _stratum_order(labels, label, seed) for label in (0, 1)}
    share = float((labels == 1).mean())
    out: dict[int, set[str]] = {}
    for n in sorted(set(int(c) for c in counts)):
        if not 1 <= n <= len(labels):
            raise ValueError(f"a subset of {n} patients from {len(labels)} patients")
        n_pos = min(len(order[1]), int(round(n * share)))
        if 0 < n_pos == n and order[0]:  # keep both classes when n allows
            n_pos -= 1
        if n_pos == 0 and n >= 2 and order[1]:
            n_pos = 1
        n_neg = min(len(order[0]), n - n_pos)
        n_pos = n - n_neg  # a short negative stratum gives its places to positives
        out[n] = set(order[1][:n_pos]) | set(order[0][:n_neg])
    return out


def subset_images(
    train: pd.DataFrame, size: int | str, seed: int, reference_patients: int
) -> pd.DataFrame:
    """The training images of the subset of ``size`` (see :func:`subset_patient_count`).

    A subset of ``n`` patients is the first ``n`` of the seed's per-stratum orders, whatever
    other sizes a sweep lists: subsets of one seed are nested however they are requested.
    """
    n_patients = train["patient_id"].nunique()
    count = subset_patient_count(size, n_patients, reference_patients)
    chosen = nested_subsets(train, [count], seed)[count]
    return train[train["patient_id"].isin(chosen)].reset_index(drop=True)


def subset_counts(subset: pd.DataFrame) -> Mapping[str, int]:
    """Patients, images and malignant images of a subset (Table 4's count columns)."""
    return {
        "n_patients": int(subset["patient_id"].nunique()),
        "n_images": int(len(subset)),
        "n_malignant_images": int(subset["label"].astype(int).sum()),
    }
