"""Where patches go: the overlap rule, breast segmentation, ROI and background sampling.

Pure array logic (no files); the patch side is ``size`` pixels of the converted image.

Geometry
    A patch is the box ``[y0, y0 + size) x [x0, x0 + size)``, indexed by its top-left corner.
    Boxes always lie *inside the image* (no padding), so every patch holds real pixels; a
    centred box that would leave the image is shifted inwards and flagged ``clamped``. Only
    when the image itself is smaller than the patch is it zero-padded at the bottom/right
    (:func:`pad_to`; the box then reaches past the image).

Overlap ratio (ROI patches)
    As the TFDS ``curated_breast_imaging_ddsm`` builder defines it (tensorflow/datasets,
    ``image_classification/cbis_ddsm.py``, ``_patch_overlaps_any_abnormality_above_threshold``
    and ``_sample_positive_patches``), with ``M`` the ROI mask's foreground and ``B`` the box:
    ``ratio = max(|M & B| / |B|, |M & B| / |M|)`` -- the patch is mostly lesion OR holds most
    of the lesion. The authors' own sampler uses the same OR rule with 0.75; TFDS follows the
    paper's 0.9. A placement is accepted when ``ratio >= threshold`` (TFDS: ``>``).

ROI sampling and relaxation (:func:`sample_roi_patches`, S10)
    TFDS draws top-left corners uniformly near the ROI and keeps those above the threshold;
    after 100 tries at one threshold it multiplies the threshold by 0.95 (down to 0.1). Here
    the ratio of *every* in-image placement is computed at once from an integral image of
    the mask, and ``count`` distinct placements are drawn uniformly, without replacement,
    from those with ``ratio >= threshold``. That is the distribution of rejection sampling
    with unlimited tries, so the threshold is relaxed only when fewer than ``count`` distinct
    placements reach it at all (a ROI that is large but sparse/thin, or one whose box leaves
    the image): then the placements that reach it are kept and the threshold is multiplied
    by :data:`RELAX_FACTOR` (0.95, as TFDS) step by step for the rest, down to
    :data:`THRESHOLD_FLOOR` (0.1, TFDS's limit). Each placement records the -- possibly
    relaxed -- threshold it met and its achieved ratio. :func:`centred_roi_patch` (S1) is the
    authors' centred scheme: one box centred on the mask centroid (image moments), no overlap
    condition (threshold NaN, score = its ratio).

Background sampling (:func:`sample_background_patches`)
    Placements are drawn uniformly, distinct, among those that overlap NO ROI of the image
    and whose fraction of breast pixels is ``>= min_breast_fraction`` (TFDS's 0.75; the
    authors have no such rule), relaxed like the ROI threshold. The breast mask
    (:func:`breast_mask`) follows the authors/TFDS segmentation: an 8-bit copy scaled by the
    image max, thresholded at :data:`BREAST_THRESHOLD` (5%) of the max, largest external
    contour filled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Threshold multiplier per relaxation step (TFDS: 0.95).
RELAX_FACTOR = 0.95
#: Relaxation stops below this threshold (TFDS: 0.1).
THRESHOLD_FLOOR = 0.1
#: Breast segmentation threshold, as a fraction of the image max (authors and TFDS: 5%).
BREAST_THRESHOLD = 0.05
_EPS = 1e-9


@dataclass(frozen=True)
class Placement:
    """A sampled box: top-left corner, the score it achieved (overlap ratio or breast
    fraction), the threshold it met (NaN: none, S1) and whether it was shifted inwards."""

    y0: int
    x0: int
    score: float
    threshold: float
    clamped: bool = False


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad at the bottom/right so that both sides are at least ``size``."""
    rows, cols = image.shape
    if rows >= size and cols >= size:
        return image
    return np.pad(image, ((0, max(0, size - rows)), (0, max(0, size - cols))))


def box_sums(mask: np.ndarray, size: int) -> np.ndarray:
    """Foreground count of every ``size``-box inside ``mask``, indexed by its top-left corner."""
    binary = (mask > 0).astype(np.int64)
    integral = np.zeros((binary.shape[0] + 1, binary.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = binary.cumsum(0).cumsum(1)
    return (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )


def overlap_ratio_map(mask: np.ndarray, size: int) -> np.ndarray:
    """TFDS/paper overlap ratio ``max(|M&B|/|B|, |M&B|/|M|)`` for every in-image box ``B``."""
    sums = box_sums(mask, size).astype(np.float64)
    area = float(np.count_nonzero(mask))
    if area == 0:
        return np.zeros_like(sums)
    return np.maximum(sums / float(size * size), sums / area)


def centred_box(mask: np.ndarray, size: int) -> tuple[int, int, bool]:
    """Top-left of the box centred on the mask centroid, clamped inside the image, and whether
    the clamp moved it."""
    ys, xs = np.nonzero(mask)
    cy, cx = float(ys.mean()), float(xs.mean())
    y0 = math.floor(cy - (size - 1) / 2.0 + 0.5)
    x0 = math.floor(cx - (size - 1) / 2.0 + 0.5)
    max_y, max_x = mask.shape[0] - size, mask.shape[1] - size
    cy0, cx0 = min(max(y0, 0), max_y), min(max(x0, 0), max_x)
    return cy0, cx0, (cy0, cx0) != (y0, x0)


# --------------------------------------------------------------------------------------------
# Drawing with relaxation
# --------------------------------------------------------------------------------------------


def draw_placements(
    rng: np.random.Generator,
    score: np.ndarray,
    valid: np.ndarray,
    count: int,
    threshold: float,
) -> list[Placement]:
    """Draw ``count`` distinct placements with ``score >= threshold`` (relaxing as needed).

    ``valid`` marks the placements allowed at all and is updated in place (taken ones are
    cleared). Returns fewer than ``count`` when even the floor threshold leaves too few.
    """
    chosen: list[Placement] = []
    width = score.shape[1]
    flat_score = score.ravel()
    flat_valid = valid.ravel()
    level = threshold
    while len(chosen) < count:
        candidates = np.flatnonzero(flat_valid & (flat_score >= level - _EPS))
        take = min(count - len(chosen), candidates.size)
        if take:
            picks = rng.choice(candidates, size=take, replace=False)
            flat_valid[picks] = False
            for pick in picks:
                y0, x0 = divmod(int(pick), width)
                chosen.append(Placement(y0, x0, float(flat_score[pick]), float(level)))
        if len(chosen) >= count:
            break
        level *= RELAX_FACTOR
        if level < THRESHOLD_FLOOR - _EPS:
            break
    return chosen


# --------------------------------------------------------------------------------------------
# ROI patches, breast tissue and background patches
# --------------------------------------------------------------------------------------------


def centred_roi_patch(mask: np.ndarray, size: int) -> Placement:
    """The S1 ROI patch: the box centred on the mask centroid, scored by its overlap ratio."""
    ratio = overlap_ratio_map(mask, size)
    y0, x0, clamped = centred_box(mask, size)
    # the score stays a numpy float64 (a float subclass), so the index rounds it the numpy way
    return Placement(y0, x0, ratio[y0, x0], float("nan"), clamped)


def sample_roi_patches(
    rng: np.random.Generator, mask: np.ndarray, size: int, count: int, min_overlap: float
) -> list[Placement]:
    """``count`` distinct ROI patches with overlap ratio ``>= min_overlap`` (relaxed as needed)."""
    ratio = overlap_ratio_map(mask, size)
    return draw_placements(rng, ratio, np.ones(ratio.shape, dtype=bool), count, min_overlap)


def breast_mask(image: np.ndarray) -> np.ndarray:
    """Breast segmentation as the authors/TFDS: 5% of max on an 8-bit copy, largest blob filled."""
    peak = float(image.max()) if image.size else 0.0
    if peak <= 0:
        return np.zeros(image.shape, dtype=np.uint8)
    eight = np.clip(image.astype(np.float64) * (255.0 / peak), 0, 255).astype(np.uint8)
    _, binary = cv2.threshold(eight, int(255 * BREAST_THRESHOLD), 255, cv2.THRESH_BINARY)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros(image.shape, dtype=np.uint8)
    if not contours:
        return out
    biggest = int(np.argmax([cv2.contourArea(c) for c in contours]))
    cv2.drawContours(out, contours, biggest, 255, cv2.FILLED)
    return out


def sample_background_patches(
    rng: np.random.Generator,
    image: np.ndarray,
    roi_union: np.ndarray,
    size: int,
    count: int,
    min_breast_fraction: float,
) -> list[Placement]:
    """``count`` distinct background patches: no pixel of ``roi_union`` and a breast fraction
    ``>= min_breast_fraction`` (relaxed as needed)."""
    fraction = box_sums(breast_mask(image), size) / float(size * size)
    valid = box_sums(roi_union, size) == 0
    return draw_placements(rng, fraction, valid, count, min_breast_fraction)


__all__ = [
    "BREAST_THRESHOLD",
    "RELAX_FACTOR",
    "THRESHOLD_FLOOR",
    "Placement",
    "box_sums",
    "breast_mask",
    "centred_box",
    "centred_roi_patch",
    "draw_placements",
    "overlap_ratio_map",
    "pad_to",
    "sample_background_patches",
    "sample_roi_patches",
]
