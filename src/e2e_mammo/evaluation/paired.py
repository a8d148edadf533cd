"""Paired comparisons of ROC AUCs: the patient-level bootstrap of a difference of AUCs.

Two sides, A and B, score the same images. Each side is one or several score arrays (several
seeds of a model, several models pooled); a side's AUC is the mean of its arrays' AUCs. The
point estimate of the difference is ``mean AUC(A) - mean AUC(B)``, each AUC
``sklearn.metrics.roc_auc_score`` on all images. Its percentile interval comes from resamples of
*patients* (drawn with replacement; every image of a drawn patient comes along, a patient drawn
twice counts twice) in which both sides are scored on the **same** draw: that is what makes the
comparison paired, and what lets a small but consistent difference exclude 0. Resamples with
one class only are skipped; ``n_boot`` in the result counts those used.

:func:`verdict` reads an interval against the direction the paper claims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from e2e_mammo.evaluation.bootstrap import (
    _binary_labels,
    _draw_counts,
    _weighted_auc,
    percentile_interval,
)

#: What a comparison says of the paper's claim (``not run``: a needed model did not train).
VERDICTS = ("holds", "contradicted", "cannot tell", "not run")
#: Resamples are processed in chunks of about this many (resample, image) cells, per array.
_CHUNK_CELLS = 4_000_000


def _side(side, n: int, name: str) -> np.ndarray:
    """A side as a (k, n) float array of k >= 1 finite score arrays; clear errors otherwise."""
    if isinstance(side, (str, bytes)) or not isinstance(side, Sequence | np.ndarray):
        raise ValueError(f"{name} must be a sequence of score arrays, got {type(side).__name__}")
    if len(side) == 0:
        raise ValueError(f"{name} must hold at least one score array")
    arrays = [np.asarray(a, dtype=np.float64) for a in side]
    for i, array in enumerate(arrays):
        if array.shape != (n,):
            raise ValueError(
                f"{name}[{i}] has shape {array.shape}: every score array must be 1-D with one "
                f"score per label ({n}); pass a side as a list of arrays, even a single one"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"{name}[{i}] has non-finite scores")
    return np.stack(arrays)


def _group_codes(groups, n: int) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(np.asarray(groups))
    if len(codes) != n:
        raise ValueError(f"groups has {len(codes)} entries for {n} labels")
    if (codes < 0).any():
        raise ValueError("groups contain missing values")
    return codes, len(uniques)


def _boot_differences(
    positive: np.ndarray, codes: np.ndarray, n_groups: int, sides, n_boot: int, seed: int
) -> np.ndarray:
    """The difference of the sides' mean AUCs in each resample of patients (nan: one class)."""
    scores_a, scores_b = sides
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(len(positive), n_groups))
    parts = []
    for start in range(0, n_boot, chunk):
        weights = _draw_counts(n_groups, min(chunk, n_boot - start), rng)[:, codes].astype(float)
        mean_a = np.mean([_weighted_auc(positive, s, weights) for s in scores_a], axis=0)
        mean_b = np.mean([_weighted_auc(positive, s, weights) for s in scores_b], axis=0)
        parts.append(mean_a - mean_b)
    return np.concatenate(parts)


def paired_auc_difference(
    labels,
    groups,
    side_a: Sequence,
    side_b: Sequence,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Mean AUC of ``side_a`` minus that of ``side_b`` with a paired patient-level bootstrap
    percentile interval.

    ``labels`` 0/1 per image (1 = malignant), ``groups`` the patient id per image, each side a
    non-empty sequence of score arrays of one score per image. Returns ``auc_a``, ``auc_b`` (the
    sides' mean AUCs), ``aucs_a``, ``aucs_b`` (each array's AUC), ``difference``, ``ci_low``,
    ``ci_high``, ``n`` (images), ``n_patients`` and ``n_boot`` (resamples used). With one class
    overall the numbers are ``nan`` and ``n_boot`` 0. Deterministic for a ``seed``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    positive = _binary_labels(labels)
    if positive.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {positive.shape}")
    n = len(positive)
    scores_a, scores_b = _side(side_a, n, "side_a"), _side(side_b, n, "side_b")
    codes, n_groups = _group_codes(groups, n)
    nan = math.nan
    result = {"auc_a": nan, "auc_b": nan, "aucs_a": [nan] * len(scores_a)}
    result |= {"aucs_b": [nan] * len(scores_b), "difference": nan, "ci_low": nan}
    result |= {"ci_high": nan, "n": n, "n_patients": n_groups, "n_boot": 0}
    if positive.all() or not positive.any():
        return result
    result["aucs_a"] = [float(roc_auc_score(positive, s)) for s in scores_a]
    result["aucs_b"] = [float(roc_auc_score(positive, s)) for s in scores_b]
    result["auc_a"] = float(np.mean(result["aucs_a"]))
    result["auc_b"] = float(np.mean(result["aucs_b"]))
    result["difference"] = result["auc_a"] - result["auc_b"]
    boot = _boot_differences(positive, codes, n_groups, (scores_a, scores_b), n_boot, seed)
    result["n_boot"], result["ci_low"], result["ci_high"] = percentile_interval(boot, level)
    return result


def verdict(ci_low: float | None, ci_high: float | None, direction: int = 1) -> str:
    """``holds`` when the interval excludes 0 in the paper's ``direction`` (+1: A > B, so
    ``ci_low > 0``; -1: ``ci_high < 0``), ``contradicted`` when it excludes 0 the other way,
    ``cannot tell`` when it covers (or touches) 0 or is undefined."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if ci_low is None or ci_high is None or math.isnan(ci_low) or math.isnan(ci_high):
        return "cannot tell"
    if ci_low > 0:
        return "holds" if direction == 1 else "contradicted"
    if ci_high < 0:
        return "holds" if direction == -1 else "contradicted"
    return "cannot tell"
