"""Bootstrap confidence intervals of the ROC AUC, resampling patients rather than images.

Images of one patient are correlated, so the percentile interval is built from resamples of
*groups* (patient ids): groups are drawn with replacement and every sample of a drawn group comes
along (a group drawn twice counts twice). ``groups=None`` resamples single samples.

The point estimate is ``sklearn.metrics.roc_auc_score`` on all samples. A resample is the
multiset of samples it drew; its AUC is computed in one vectorised pass from per-sample draw
counts (the weighted Mann-Whitney statistic, ties counted one half), which equals
``roc_auc_score`` on the resample spelled out with its repeats. Resamples with one class only are
skipped; ``n_boot`` in the result counts those that were used.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

#: Resamples are processed in chunks of about this many (resample, sample) cells.
_CHUNK_CELLS = 4_000_000


def _binary_labels(labels) -> np.ndarray:
    """Labels as a boolean array (positive = 1); anything but 0/1 is an error."""
    labels = np.asarray(labels)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, got values {np.unique(labels)[:5].tolist()}")
    return labels.astype(bool)


def _weighted_auc(positive: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of each row of ``weights`` (B, n), a count (or weight) per sample, as if every sample
    were repeated that many times; ``nan`` where a row has one class only."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    w = weights[:, order]
    pos = np.where(positive[order], w, 0.0)
    neg = w - pos
    pos_at = np.add.reduceat(pos, starts, axis=1)  # (B, U): positive weight at each distinct score
    neg_at = np.add.reduceat(neg, starts, axis=1)
    neg_below = np.cumsum(neg_at, axis=1) - neg_at
    n_pos, n_neg = pos_at.sum(1), neg_at.sum(1)
    pairs = (pos_at * (neg_below + 0.5 * neg_at)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = pairs / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def _draw_counts(n_groups: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_groups) how often each group was drawn in each resample of n_groups draws."""
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    flat = draws + n_groups * np.arange(n_boot)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n_groups).reshape(n_boot, n_groups)


def auc_with_ci(
    labels,
    scores,
    groups=None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """ROC AUC (``sklearn.metrics.roc_auc_score``) with a bootstrap percentile interval.

    ``labels`` are 0/1 (1 = malignant), ``scores`` the positive-class scores, ``groups`` one id
    per sample (e.g. ``patient_id``) resampled as wholes, or ``None`` to resample samples.
    Returns ``{"auc", "ci_low", "ci_high", "n", "n_boot"}``: ``n`` samples, ``n_boot`` the
    resamples with both classes that make the interval. With one class overall everything but
    ``n`` is ``nan`` / 0. Deterministic for a ``seed``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    positive = _binary_labels(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != positive.shape or positive.ndim != 1:
        raise ValueError(f"labels {positive.shape} and scores {scores.shape} must be equal 1-D")
    n = len(positive)
    result = {"auc": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n, "n_boot": 0}
    if positive.all() or not positive.any():
        return result
    if groups is None:
        codes, n_groups = np.arange(n), n
    else:
        codes, uniques = pd.factorize(np.asarray(groups))
        if len(codes) != n:
            raise ValueError(f"groups has {len(codes)} entries for {n} samples")
        if (codes < 0).any():
            raise ValueError("groups contain missing values")
        n_groups = len(uniques)
    result["auc"] = float(roc_auc_score(positive, scores))
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(n, n_groups))  # bounds memory for large sets
    parts = []
    for start in range(0, n_boot, chunk):
        counts = _draw_counts(n_groups, min(chunk, n_boot - start), rng)
        parts.append(_weighted_auc(positive, scores, counts[:, codes].astype(np.float64)))
    result["n_boot"], result["ci_low"], result["ci_high"] = percentile_interval(
        np.concatenate(parts), level
    )
    return result


def percentile_interval(boot: np.ndarray, level: float) -> tuple[int, float, float]:
    """(resamples used, low, high): the ``level`` percentile interval of the bootstrap values
    ``boot``, ``nan`` ones (resamples with one class) left out; ``nan`` bounds when none is left."""
    boot = boot[~np.isnan(boot)]
    if not len(boot):
        return 0, math.nan, math.nan
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return len(boot), float(low), float(high)


def prediction_auc(
    predictions: pd.DataFrame, column: str, n_boot: int = 2000, seed: int = 0
) -> dict[str, float | None]:
    """``auc``, ``ci_low``, ``ci_high`` of a predictions table's ``column`` against its
    ``label``, resampling its ``patient_id`` groups (``None`` where undefined: one class)."""
    stats = auc_with_ci(
        predictions["label"].to_numpy(),
        predictions[column].to_numpy(),
        predictions["patient_id"].to_numpy(),
        n_boot=n_boot,
        seed=seed,
    )
    return {k: _finite_or_none(stats[k]) for k in ("auc", "ci_low", "ci_high")}


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
