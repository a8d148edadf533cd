"""The two-step baseline of section 3.1.4: heatmap -> regional features -> random forest.

The patch classifier's softmax heatmap (5, h, w), classes in :data:`PATCH_CLASSES` order, is
collapsed to two maps: malignant = p(malignant_mass) + p(malignant_calcification) and benign =
p(benign_mass) + p(benign_calcification). Each map is binarised at every cutoff (``map >=
cutoff``; the paper's 0.3, 0.5, 0.7, 0.9) and described by regional features of its 8-connected
regions (OpenCV connected components and moments):

* ``n_regions``, ``area_fraction`` (all regions), ``largest_area`` (fraction of the map);
* ``largest_major_axis`` / ``largest_minor_axis``: ``4 * sqrt(eigenvalue)`` of the largest
  region's second-order central moments divided by its area, in cells (scikit-image's
  ``axis_major_length`` / ``axis_minor_length`` convention; a single cell has 0);
* ``largest_mean`` / ``largest_max``: the map's values inside the largest region;

plus each map's global ``max`` and ``mean``. Empty regions give zeros, never ``nan``. A random
forest (the paper's 500 trees, max depth 9, min samples split 300) is trained on the vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
from sklearn.ensemble import RandomForestClassifier

from e2e_mammo.constants import PATCH_CLASSES

log = logging.getLogger(__name__)

CUTOFFS: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)

#: The two maps and the patch classes summed into each.
MAPS: dict[str, tuple[str, str]] = {
    "malignant": ("malignant_mass", "malignant_calcification"),
    "benign": ("benign_mass", "benign_calcification"),
}
GLOBAL_FEATURES = ("max", "mean")
REGION_FEATURES = (
    "n_regions",
    "area_fraction",
    "largest_area",
    "largest_major_axis",
    "largest_minor_axis",
    "largest_mean",
    "largest_max",
)


def feature_names(cutoffs: Sequence[float] = CUTOFFS) -> list[str]:
    """Names of :func:`region_features`' entries, e.g. ``malignant_t0.5_largest_area``."""
    names = []
    for name in MAPS:
        names += [f"{name}_{f}" for f in GLOBAL_FEATURES]
        for cutoff in cutoffs:
            names += [f"{name}_t{cutoff:g}_{f}" for f in REGION_FEATURES]
    return names


def _axes(mask: np.ndarray) -> tuple[float, float]:
    """(major, minor) axis lengths of a binary region from its second-order central moments."""
    m = cv2.moments(mask, binaryImage=True)
    if m["m00"] == 0:
        return 0.0, 0.0
    a, b, c = m["mu20"] / m["m00"], m["mu11"] / m["m00"], m["mu02"] / m["m00"]
    half_sum, root = (a + c) / 2, np.hypot((a - c) / 2, b)
    major, minor = max(half_sum + root, 0.0), max(half_sum - root, 0.0)
    return float(4 * np.sqrt(major)), float(4 * np.sqrt(minor))


def _regions(values: np.ndarray, cutoff: float) -> list[float]:
    """The :data:`REGION_FEATURES` of ``values >= cutoff``."""
    binary = (values >= cutoff).astype(np.uint8)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n_labels <= 1:
        return [0.0] * len(REGION_FEATURES)
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas))  # ties: the first label in scan order
    mask = labels == largest
    major, minor = _axes(mask.astype(np.uint8))
    inside = values[mask]
    return [
        float(n_labels - 1),
        float(areas.sum()) / values.size,
        float(areas[largest - 1]) / values.size,
        major,
        minor,
        float(inside.mean()),
        float(inside.max()),
    ]


def region_features(heatmap: np.ndarray, cutoffs: Sequence[float] = CUTOFFS) -> np.ndarray:
    """Regional features of one (5, h, w) softmax heatmap, in :func:`feature_names` order."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 3 or heatmap.shape[0] != len(PATCH_CLASSES) or heatmap[0].size == 0:
        raise ValueError(f"heatmap must be ({len(PATCH_CLASSES)}, h, w), got {heatmap.shape}")
    if not np.isfinite(heatmap).all():
        raise ValueError("heatmap holds non-finite values")
    features: list[float] = []
    for classes in MAPS.values():
        values = sum(heatmap[PATCH_CLASSES.index(c)] for c in classes)
        features += [float(values.max()), float(values.mean())]
        for cutoff in cutoffs:
            features += _regions(values, cutoff)
    return np.asarray(features, dtype=np.float64)


def fit_random_forest(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_estimators: int = 500,
    max_depth: int = 9,
    min_samples_split: int = 300,
    seed: int = 0,
    n_jobs: int = 1,
) -> RandomForestClassifier:
    """A scikit-learn random forest with the paper's settings as defaults, fitted on (X, y).
    Nothing is clamped: with ``min_samples_split > len(y)`` a warning says every tree is a single
    leaf (the forest then predicts the training class share)."""
    y = np.asarray(y)
    if min_samples_split > len(y):
        log.warning(
            "min_samples_split=%d exceeds the %d training samples: every tree is a single leaf",
            min_samples_split,
            len(y),
        )
    model = RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_split=min_samples_split,
        random_state=seed,
        n_jobs=n_jobs,
    )
    return model.fit(np.asarray(X, dtype=np.float64), y)


def two_step_scores(model: RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    """The forest's probability of the positive class (label 1) for every row of ``X``.

    A forest that never saw both classes has no such probability to give: ``ValueError`` (a
    constant score would silently turn into an AUC of 0.5).
    """
    classes = list(model.classes_)
    if len(classes) < 2 or 1 not in classes:
        raise ValueError(f"the forest was trained on classes {classes}: it needs both 0 and 1")
    return model.predict_proba(np.asarray(X, dtype=np.float64))[:, classes.index(1)]
