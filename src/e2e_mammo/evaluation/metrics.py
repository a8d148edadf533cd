"""Metrics, defined by scikit-learn.

* :func:`accuracy`: share of samples whose arg-max class is the label.
* :func:`roc_auc`: ``sklearn.metrics.roc_auc_score``. Two classes: the AUC of the positive
  (index 1, malignant) probability. More classes (patches): the mean of the one-vs-rest AUCs of
  the classes present in the labels (the authors' "mean validation ROC-AUC", their model
  checkpoint criterion). ``nan`` when fewer than two classes are present.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score


def accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Share of arg-max predictions equal to the label."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return math.nan
    return float((np.asarray(probs).argmax(1) == labels).mean())


def roc_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC of class probabilities ``probs`` (N, K) against integer ``labels`` (see module)."""
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    present = np.unique(labels)
    if len(present) < 2:
        return math.nan
    if probs.shape[1] == 2:
        return float(roc_auc_score(labels == 1, probs[:, 1]))
    aucs = [roc_auc_score(labels == k, probs[:, k]) for k in present]
    return float(np.mean(aucs))
