"""The pointing game: does a patch classifier's heatmap peak on the lesion?

A malignant image's heatmap (the patch classifier applied densely: the malignant mass and
calcification probabilities summed, the overlays' map) is a **hit** when the patch of its
highest cell is centred inside a malignant lesion's bounding box widened by one patch side on
every side: the pointing game of Zhang et al. ("Top-down neural attention by excitation
backprop", ECCV 2016), whose tolerance of 15 pixels becomes one patch, the heatmap's own
resolution. Nothing is masked: a peak on the background, the border or the chest wall is a miss.

Cell ``(i, j)`` of a heatmap made with a window of ``window`` feature-map cells at the backbone's
stride (32 pixels for ResNet50 and VGG16) covers the patch of pixels
``[32 i, 32 (i + window))`` x ``[32 j, 32 (j + window))``; its centre is the patch's.

The **chance rate** of an image is the hit rate of a peak drawn uniformly among its heatmap's
cells: the fraction of cells whose centre would hit. A classifier localises better than chance
when the lower bound of its hit rate's 95% patient-level bootstrap interval lies above the mean
chance rate; with fewer than :data:`MIN_PATIENTS` patients the percentile bootstrap is too coarse
to decide (two patients with one hit in two images each give the interval 0.5-0.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from e2e_mammo.evaluation.bootstrap import percentile_interval
from e2e_mammo.models.heatmap import STRIDE

#: The fewest patients whose hit rate gets a verdict.
MIN_PATIENTS = 10
Box = tuple[int, int, int, int]  # (top, left, bottom, right), bottom and right exclusive


def lesion_box(mask: np.ndarray) -> Box | None:
    """The bounding box of a mask's foreground (non-zero pixels); ``None`` when it has none."""
    rows = np.flatnonzero(np.asarray(mask).any(axis=1))
    cols = np.flatnonzero(np.asarray(mask).any(axis=0))
    if not len(rows):
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def cell_centres(n: int, window: int, stride: int = STRIDE) -> np.ndarray:
    """The pixel centres, along one side, of ``n`` heatmap cells of a ``window``-cell patch."""
    return np.arange(n) * stride + window * stride / 2.0


def heatmap_on_image(
    heatmap: np.ndarray, shape: tuple[int, int], window: int, stride: int = STRIDE
) -> np.ndarray:
    """The (u, v) heatmap at the image's pixels (for display: the cells the pointing game
    reads, where they lie on the image): cell (i, j) averages feature cells i..i+window-1
    (``stride`` pixels each), so its centre is ``stride * (i + window / 2)``: each cell is
    stretched over ``stride`` pixels, the borders padded by half a window (edge values), then
    cut or padded to ``shape``."""
    rows, cols = heatmap.shape
    up = cv2.resize(
        heatmap.astype(np.float32), (cols * stride, rows * stride), interpolation=cv2.INTER_LINEAR
    )
    pad = (window - 1) * stride // 2
    up = cv2.copyMakeBorder(up, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    height, width = shape
    extra_h, extra_w = max(0, height - up.shape[0]), max(0, width - up.shape[1])
    if extra_h or extra_w:
        up = cv2.copyMakeBorder(up, 0, extra_h, 0, extra_w, cv2.BORDER_REPLICATE)
    return up[:height, :width]


def _inside(rows: np.ndarray, cols: np.ndarray, boxes: Sequence[Box], margin: float) -> np.ndarray:
    """Which of the points (rows x cols grid) lie inside any box widened by ``margin``."""
    hit = np.zeros((len(rows), len(cols)), dtype=bool)
    for top, left, bottom, right in boxes:
        in_rows = (rows >= top - margin) & (rows < bottom + margin)
        in_cols = (cols >= left - margin) & (cols < right + margin)
        hit |= in_rows[:, None] & in_cols[None, :]
    return hit


@dataclass(frozen=True)
class Pointing:
    """One image's pointing game: whether its peak hit, and its chance rate."""

    hit: bool
    chance: float
    peak: tuple[int, int]  # the peak cell (row, column)


def point(heatmap: np.ndarray, boxes: Sequence[Box], window: int, stride: int = STRIDE) -> Pointing:
    """The pointing game of one heatmap ``(h, w)`` against its image's lesion ``boxes`` (pixels
    of the image the heatmap was computed on); the tolerance is one patch (``window`` cells).
    The peak is the first highest cell in row-major order."""
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim != 2 or not heat.size:
        raise ValueError(f"a heatmap is a non-empty (h, w) array, got shape {heat.shape}")
    if not boxes:
        raise ValueError("the pointing game needs at least one lesion box")
    rows = cell_centres(heat.shape[0], window, stride)
    cols = cell_centres(heat.shape[1], window, stride)
    hits = _inside(rows, cols, boxes, margin=window * stride)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return Pointing(bool(hits[peak]), float(hits.mean()), (int(peak[0]), int(peak[1])))


@dataclass(frozen=True)
class HitRate:
    """A classifier's pointing game over images: hits, the hit rate with its 95% patient-level
    bootstrap interval, the mean chance rate and the verdict."""

    n_images: int
    n_patients: int
    hits: int
    hit_rate: float
    ci_low: float
    ci_high: float
    chance_rate: float
    verdict: str


def hit_rate(results: Iterable[tuple[str, Pointing]], n_boot: int = 2000, seed: int = 0) -> HitRate:
    """The hit rate of ``(patient_id, pointing)`` results, its interval (patients resampled
    with replacement, ``n_boot`` times) and the verdict: ``above chance`` when the interval
    lies above the mean chance rate, ``below chance`` when below, else ``not decided`` (always
    so under :data:`MIN_PATIENTS` patients)."""
    pairs = list(results)
    if not pairs:
        nan = float("nan")
        return HitRate(0, 0, 0, nan, nan, nan, nan, "no malignant image with a lesion mask")
    patients = np.array([p for p, _ in pairs])
    hits = np.array([r.hit for _, r in pairs], dtype=np.float64)
    chance = float(np.mean([r.chance for _, r in pairs]))
    names, codes = np.unique(patients, return_inverse=True)
    per_hits = np.bincount(codes, weights=hits, minlength=len(names))
    per_images = np.bincount(codes, minlength=len(names)).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(n_boot, len(names)))
    boot = per_hits[draws].sum(1) / per_images[draws].sum(1)
    _, low, high = percentile_interval(boot, 0.95)
    verdict = "not decided"
    if len(names) < MIN_PATIENTS:
        verdict = f"not decided (fewer than {MIN_PATIENTS} patients)"
    elif low > chance:
        verdict = "above chance"
    elif high < chance:
        verdict = "below chance"
    rate = float(hits.mean())
    return HitRate(len(pairs), len(names), int(hits.sum()), rate, low, high, chance, verdict)
