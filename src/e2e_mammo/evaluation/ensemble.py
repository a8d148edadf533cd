"""Model averaging of augmented predictions: the paper's four-model ensemble (section 3.1.4).

* :func:`select_family_members`: the paper's four families (section 3.1.4: Resnet-Resnet,
  Resnet-VGG, VGG-VGG, VGG-Resnet), one member each, its row with the best *validation* A-AUC.
* :func:`average_predictions`: one row per image with the mean of the members' flip-TTA
  malignant probabilities (the authors' plain average of positive-class probabilities).
* :func:`ensemble_summary`: AUC with a patient-level bootstrap interval on the evaluation split,
  and sensitivity/specificity at the Youden threshold chosen on the validation split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from e2e_mammo.evaluation.bootstrap import auc_with_ci
from e2e_mammo.evaluation.operating_point import sensitivity_specificity, youden_threshold


@dataclass(frozen=True)
class FamilyChoice:
    """The ensemble's members, one per family, best validation score first; ``family`` maps
    each member to its family, ``missing`` lists the families with no candidate."""

    members: list[str]
    family: dict[str, str]
    missing: list[str]


def select_family_members(
    candidates: Mapping[str, tuple[str | None, float]], families: Sequence[str]
) -> FamilyChoice:
    """One member per family of ``families``: its candidate with the highest validation score
    (ties: by name). ``candidates`` maps a row to (its family or ``None``, its validation
    A-AUC); rows of no listed family, and scores that are ``nan`` or missing, are never chosen.
    The members are ordered best score first. No family with a candidate is a ``ValueError``.

    The paper, section 3.1.4: the ensemble averages "the four best models", one of each
    family: Resnet-Resnet, Resnet-VGG, VGG-VGG and VGG-Resnet (Table 4's columns).
    """
    best: dict[str, tuple[float, str]] = {}
    for name, (family, score) in candidates.items():
        if family not in families or score is None or math.isnan(float(score)):
            continue
        key = (-float(score), name)
        if family not in best or key < best[family]:
            best[family] = key
    if not best:
        raise ValueError(
            f"no trained row with a validation A-AUC in any family of {list(families)}: "
            f"candidates {sorted(candidates)}"
        )
    chosen = sorted((key, family) for family, key in best.items())
    members = [key[1] for key, _ in chosen]
    return FamilyChoice(
        members=members,
        family={key[1]: family for key, family in chosen},
        missing=[f for f in families if f not in best],
    )


def average_predictions(
    frames: Mapping[str, pd.DataFrame],
    score: str = "tta_prob_malignant",
    key: Sequence[str] = ("split", "image_id"),
) -> pd.DataFrame:
    """Average the ``score`` column of the members' prediction tables, row by ``key``.

    Returns the key columns, ``patient_id``, ``label``, ``score`` (the members' mean) and one
    ``score_<member>`` per member, in the first member's row order. Every member must hold the
    key columns, ``patient_id`` (unless a key), ``label`` and ``score``, each key once, and cover
    exactly the first member's keys with the same labels; otherwise ``ValueError``.
    """
    if not frames:
        raise ValueError("no members to average")
    key = list(key)
    ids = key + [c for c in ("patient_id", "label") if c not in key]
    merged: pd.DataFrame | None = None
    for name, frame in frames.items():
        missing = [c for c in ids + [score] if c not in frame.columns]
        if missing:
            raise ValueError(f"member {name!r} lacks columns {missing}")
        if frame.duplicated(key).any():
            n_dup = int(frame.duplicated(key).sum())
            raise ValueError(f"member {name!r} has {n_dup} duplicated keys {key}")
        part = frame[ids + [score]].rename(columns={score: f"score_{name}"})
        if merged is None:
            merged = part.reset_index(drop=True)
            continue
        part = part.drop(columns=[c for c in ids if c not in key and c != "label"])
        both = merged.merge(part, on=key, how="outer", indicator=True, suffixes=("", "_member"))
        unmatched = int((both["_merge"] != "both").sum())
        relabelled = int(
            ((both["_merge"] == "both") & (both["label"] != both["label_member"])).sum()
        )
        if unmatched or relabelled:
            raise ValueError(
                f"member {name!r} disagrees with {next(iter(frames))!r} on "
                f"{unmatched + relabelled} keys ({unmatched} not shared, {relabelled} relabelled)"
            )
        merged = merged.merge(part.drop(columns="label"), on=key, how="left")
    assert merged is not None
    members = [f"score_{name}" for name in frames]
    merged["score"] = merged[members].mean(axis=1)
    return merged[ids + ["score"] + members]


def _youden_on(averaged: pd.DataFrame, split: str, notes: list[str]) -> float:
    val = averaged[averaged["split"] == split]
    threshold = youden_threshold(val["label"].to_numpy(), val["score"].to_numpy())
    if val.empty:
        notes.append(f"no rows in threshold split {split!r}: no threshold")
    elif math.isnan(threshold):
        notes.append(f"threshold split {split!r} has one class only: no threshold")
    return threshold


def ensemble_summary(
    averaged: pd.DataFrame,
    *,
    members: Sequence[str],
    dataset: str,
    eval_split: str = "test",
    threshold_split: str = "val",
    n_boot: int = 2000,
    seed: int = 0,
    threshold: float | None = None,
) -> dict:
    """One summary row of an averaged ensemble (see :func:`average_predictions`).

    AUC with a patient-level bootstrap interval on ``eval_split``; the threshold is Youden's on
    ``threshold_split``, and sensitivity/specificity are measured on ``eval_split`` at it. When
    the threshold split has no rows or one class, the threshold and sensitivity/specificity are
    ``nan`` and ``note`` says why (``note`` is ``""`` when all is well). A given ``threshold``
    is used as it is (``threshold_split`` is then ``"fixed"``): for a dataset whose evaluated
    split is the only held-out one (INbreast), where choosing it there would be choosing on the
    reported set.
    """
    notes = []
    test = averaged[averaged["split"] == eval_split]
    ci = auc_with_ci(
        test["label"].to_numpy(),
        test["score"].to_numpy(),
        test["patient_id"].to_numpy(),
        n_boot=n_boot,
        seed=seed,
    )
    if test.empty:
        notes.append(f"no rows in eval split {eval_split!r}")
    elif test["label"].nunique() < 2:
        notes.append(f"eval split {eval_split!r} has one class only: no AUC")
    if threshold is None:
        threshold = _youden_on(averaged, threshold_split, notes)
    else:
        threshold, threshold_split = float(threshold), "fixed"
    sensitivity, specificity = sensitivity_specificity(
        test["label"].to_numpy(), test["score"].to_numpy(), threshold
    )
    return {
        "dataset": dataset,
        "members": ";".join(members),
        "eval_split": eval_split,
        "auc": ci["auc"],
        "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"],
        "n": ci["n"],
        "threshold": threshold,
        "threshold_split": threshold_split,
        "sensitivity": sensitivity,
        "specificity": specificity,
        "note": "; ".join(notes),
    }
