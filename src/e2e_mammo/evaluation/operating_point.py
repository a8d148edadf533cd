"""Operating point of a score: Youden's threshold and the sensitivity/specificity it gives.

A sample is called positive when ``score >= threshold``. The candidate thresholds are the
distinct scores of the given set (the ROC curve's thresholds without its artificial ``inf``, which
calls nothing positive). Youden's J (sensitivity + specificity - 1) is compared in exact integer
arithmetic, so equal J values tie exactly; ties go to the highest threshold.
"""

from __future__ import annotations

import math

import numpy as np

from e2e_mammo.evaluation.bootstrap import _binary_labels


def youden_threshold(labels, scores) -> float:
    """The threshold maximising Youden's J over the set's scores (ties: the highest one);
    ``nan`` when the set lacks a class. Choose it on validation data, never on test data."""
    positive = _binary_labels(labels)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    candidates, inverse = np.unique(scores, return_inverse=True)  # ascending
    pos_at = np.bincount(inverse, weights=positive, minlength=len(candidates)).astype(np.int64)
    neg_at = np.bincount(inverse, weights=~positive, minlength=len(candidates)).astype(np.int64)
    tp = np.cumsum(pos_at[::-1])  # descending thresholds: positives with score >= threshold
    fp = np.cumsum(neg_at[::-1])
    j_scaled = tp * n_neg - fp * n_pos  # J * n_pos * n_neg, exact
    return float(candidates[::-1][int(np.argmax(j_scaled))])  # first max = highest threshold


def sensitivity_specificity(labels, scores, threshold: float) -> tuple[float, float]:
    """(sensitivity, specificity) when ``score >= threshold`` is called positive; each is
    ``nan`` when its class is missing, both when the threshold is ``nan``."""
    positive = _binary_labels(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if threshold is None or math.isnan(threshold):
        return math.nan, math.nan
    called = scores >= threshold
    sensitivity = float(called[positive].mean()) if positive.any() else math.nan
    specificity = float((~called[~positive]).mean()) if (~positive).any() else math.nan
    return sensitivity, specificity
