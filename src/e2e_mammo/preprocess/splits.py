"""Patient-level, label-stratified, seeded splits (paper section 3.1.1 and 3.2).

Modes:

* ``paper`` (CBIS-DDSM): 85/15 train/test by patient, then 10% of the training patients for
  validation, each draw stratified by the patient's label (1 when any of the patient's images is
  malignant), as in the paper.
* ``official`` (CBIS-DDSM): the description CSVs' own train/test; validation carved from the
  official training patients. The real CSVs hold 31 patients in both official sets (data-formats
  section 1.5); such a patient is kept on one side only (``official_overlap``, default ``test`` so
  that the official test set stays whole) and the images on the other side are reported in the
  exclusions, never silently dropped. :func:`official_side` is that rule; the CBIS-DDSM indexer
  applies it too, to a view listed in both official sets (one scan under a Mass- and a Calc-
  SubjectID).
* ``holdout`` (INbreast): 70/30 train/val by patient, stratified. The paper calls INbreast's
  held-out 30% the *validation* set, so it is named ``val`` here.

Stratification by patient label: ``round(fraction * n)`` patients are held out (at least one),
shared over the label strata by largest remainder, each stratum shuffled by a seeded generator,
so even tiny datasets split without failing and the same seed gives the same split everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from e2e_mammo.constants import SPLITS
from e2e_mammo.exclusions import Exclusion

SPLIT_COLUMNS = ["image_id", "patient_id", "split", "label"]
MODES = ("paper", "official", "holdout")
#: the two sets of the CBIS-DDSM description CSVs (``*_train_set.csv``, ``*_test_set.csv``)
OFFICIAL_SETS = ("train", "test")


@dataclass
class SplitResult:
    """The split table, its per-split summary and what was left out."""

    splits: pd.DataFrame
    summary: pd.DataFrame
    exclusions: list[Exclusion] = field(default_factory=list)


def official_side(sets: Iterable[str], overlap: str = "test") -> str:
    """The one official set for a patient or view listed in ``sets``.

    The set itself when every listing agrees; ``overlap`` (``official_overlap``) when the
    listings are in both the official train and the official test set.

    Raises:
        ValueError: ``overlap`` or a listed set is not ``train``/``test``, or ``sets`` is empty.
    """
    found = set(sets)
    check_official_sets(overlap, found)
    if not found:
        raise ValueError("official split needs at least one listing (train or test)")
    return found.pop() if len(found) == 1 else overlap


def check_official_sets(overlap: str, sets: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` unless ``overlap`` and every value of ``sets`` is train or test."""
    if overlap not in OFFICIAL_SETS:
        raise ValueError(f"official_overlap must be 'train' or 'test', got {overlap!r}")
    bad = sorted(set(sets) - set(OFFICIAL_SETS))
    if bad:
        raise ValueError(f"official split needs split values train/test, found {bad}")


def patient_labels(images: pd.DataFrame) -> pd.Series:
    """Label per patient: 1 when any of the patient's images is malignant."""
    return images.groupby("patient_id")["label"].max().astype(int)


def holdout_patients(labels: pd.Series, fraction: float, rng: np.random.Generator) -> set[str]:
    """Draw ``fraction`` of the patients, stratified by label (seeded).

    The number held out is ``round(fraction * n)``, at least one patient when ``fraction > 0``
    and at least two patients exist (so that a tiny dataset still gets a validation/test set).
    It is shared out over the label strata by largest remainder, so each stratum keeps the
    dataset's proportion as closely as whole patients allow.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"holdout fraction must lie in [0, 1), got {fraction}")
    strata = {
        label: np.array(sorted(labels.index[labels == label]), dtype=object)
        for label in sorted(labels.unique())
    }
    total = len(labels)
    target = int(round(fraction * total))
    if fraction > 0 and total >= 2:
        target = max(target, 1)
    exact = {label: fraction * len(members) for label, members in strata.items()}
    counts = {label: int(np.floor(value)) for label, value in exact.items()}
    by_remainder = sorted(strata, key=lambda label: (-(exact[label] - counts[label]), label))
    for label in by_remainder:
        if sum(counts.values()) >= target:
            break
        if counts[label] < len(strata[label]):
            counts[label] += 1
    held: set[str] = set()
    for label, members in strata.items():
        rng.shuffle(members)
        held.update(str(p) for p in members[: counts[label]])
    return held


def _assign(images: pd.DataFrame, groups: dict[str, set[str]], default: str) -> pd.DataFrame:
    split = pd.Series(default, index=images.index, dtype=object)
    for name, patients in groups.items():
        split[images["patient_id"].isin(patients)] = name
    out = images.assign(split=split)[SPLIT_COLUMNS].copy()
    out["label"] = out["label"].astype(int)
    return out.sort_values("image_id").reset_index(drop=True)


def assert_patient_disjoint(splits: pd.DataFrame) -> None:
    """Raise ``AssertionError`` when any patient appears in more than one split."""
    per_patient = splits.groupby("patient_id")["split"].nunique()
    leaked = per_patient[per_patient > 1]
    if not leaked.empty:
        raise AssertionError(f"patients in more than one split: {sorted(leaked.index)[:10]}")


def summarize(splits: pd.DataFrame) -> pd.DataFrame:
    """Counts and positive rates per split (patients, images, positives)."""
    rows = []
    for name, part in splits.groupby("split", sort=False):
        rows.append(
            {
                "split": name,
                "patients": part["patient_id"].nunique(),
                "images": len(part),
                "positive_images": int(part["label"].sum()),
                "positive_rate": round(float(part["label"].mean()), 4) if len(part) else 0.0,
                "positive_patients": int(part.groupby("patient_id")["label"].max().sum()),
            }
        )
    order = {name: i for i, name in enumerate(SPLITS)}
    frame = pd.DataFrame(rows)
    return frame.sort_values("split", key=lambda s: s.map(order)).reset_index(drop=True)


def split_paper(
    images: pd.DataFrame, seed: int, test_frac: float = 0.15, val_frac: float = 0.10
) -> pd.DataFrame:
    """The paper's CBIS-DDSM split: test by patient, then validation from the training patients."""
    rng = np.random.default_rng(seed)
    labels = patient_labels(images)
    test = holdout_patients(labels, test_frac, rng)
    val = holdout_patients(labels.drop(index=list(test)), val_frac, rng)
    return _assign(images, {"test": test, "val": val}, default="train")


def split_official(
    images: pd.DataFrame, seed: int, val_frac: float = 0.10, overlap: str = "test"
) -> tuple[pd.DataFrame, list[Exclusion]]:
    """The CSVs' official train/test, validation from train; overlapping patients on one side."""
    official = images["split"].astype(str)
    check_official_sets(overlap, official)
    side = official.groupby(images["patient_id"]).agg(lambda sets: official_side(sets, overlap))
    drop = official != images["patient_id"].map(side)
    exclusions = [
        Exclusion(
            stage="split",
            item=str(row.image_id),
            source="official split",
            reason=(
                f"patient {row.patient_id} is in both official sets; kept on the "
                f"'{overlap}' side only (official_overlap)"
            ),
        )
        for row in images[drop].itertuples()
    ]
    kept = images[~drop]
    rng = np.random.default_rng(seed)
    train_labels = patient_labels(kept[kept["split"] == "train"])
    val = holdout_patients(train_labels, val_frac, rng)
    test = set(kept.loc[kept["split"] == "test", "patient_id"])
    return _assign(kept, {"test": test, "val": val}, default="train"), exclusions


def split_holdout(images: pd.DataFrame, seed: int, val_frac: float = 0.30) -> pd.DataFrame:
    """INbreast: train/val by patient, stratified (the paper's 70/30)."""
    rng = np.random.default_rng(seed)
    val = holdout_patients(patient_labels(images), val_frac, rng)
    return _assign(images, {"val": val}, default="train")


def make_splits(
    images: pd.DataFrame,
    mode: str,
    seed: int,
    test_frac: float = 0.15,
    val_frac: float = 0.10,
    official_overlap: str = "test",
) -> SplitResult:
    """Split an image table (needs ``image_id``, ``patient_id``, ``label``; ``split`` for official).

    Returns the split table (``image_id, patient_id, split, label``), a summary per split and
    the exclusions (official mode's overlapping patients). Every result is checked to be
    patient-disjoint.
    """
    missing = {"image_id", "patient_id", "label"} - set(images.columns)
    if missing:
        raise ValueError(f"image table lacks columns {sorted(missing)}")
    images = images.assign(patient_id=images["patient_id"].astype(str))
    exclusions: list[Exclusion] = []
    if mode == "paper":
        splits = split_paper(images, seed, test_frac, val_frac)
    elif mode == "official":
        splits, exclusions = split_official(images, seed, val_frac, official_overlap)
    elif mode == "holdout":
        splits = split_holdout(images, seed, val_frac)
    else:
        raise ValueError(f"unknown split mode {mode!r}; expected one of {MODES}")
    assert_patient_disjoint(splits)
    return SplitResult(splits=splits, summary=summarize(splits), exclusions=exclusions)
