"""Pass 1 of a patch set: one image and its ROIs -> classes -> planned boxes (index rows).

Classes (Shen et al. 2019, section 3.1.1): 0 background, 1 malignant mass, 2 benign mass,
3 malignant calcification, 4 benign calcification, named by
:data:`~e2e_mammo.constants.PATCH_CLASSES` (``BENIGN_WITHOUT_CALLBACK`` is benign; any other
pathology or abnormality type is excluded).

For one image (:func:`plan_image`): read the converted PNG and its ROI masks; keep the ROIs
whose mask is readable, of the image's shape and not empty; add each to the union of ROIs
(background patches avoid them all, including ROIs excluded for their label); then, per ROI
with a known class, ``n_roi`` ROI patches (S1: the centred one), and ``n_background``
background patches per ROI (``background_per="roi"``, the paper's "same number of background
patches") or per image (``"image"``, the TFDS/authors' count) -- see
:mod:`~e2e_mammo.preprocess.patches.sampling`. Every problem and every patch still missing
below the relaxation floor is reported through ``exclude``, never dropped silently.

Determinism: every image has its own generator ``np.random.default_rng([seed,
crc32(image_id)])`` and ROIs are visited in natural ``abnormality_id`` order, so the boxes
depend on neither row order nor parallelism.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from e2e_mammo.constants import PATCH_CLASSES
from e2e_mammo.preprocess.patches.sampling import (
    THRESHOLD_FLOOR,
    Placement,
    centred_roi_patch,
    pad_to,
    sample_background_patches,
    sample_roi_patches,
)

#: Class ids and names.
CLASS_NAMES: dict[int, str] = dict(enumerate(PATCH_CLASSES))
#: ``exclude(item, source, reason)``: records one thing left out.
Exclude = Callable[[str, str, str], None]


@dataclass(frozen=True)
class SamplingOptions:
    """How a patch set is sampled (S1: ``n_roi=n_background=1``; S10: 10 and 10).

    Attributes:
        patch_size: patch side in pixels of the converted images.
        n_roi: ROI patches per ROI; 1 means one patch centred on the ROI.
        n_background: background patches per ROI (``background_per="roi"``) or per image.
        min_overlap: minimum overlap ratio of ROI patches before relaxation (paper: 0.9).
        min_breast_fraction: minimum breast fraction of background patches (TFDS: 0.75).
        seed: base seed; each image uses ``default_rng([seed, crc32(image_id)])``.
        background_per: ``"roi"`` or ``"image"``.
    """

    patch_size: int
    n_roi: int
    n_background: int
    min_overlap: float = 0.9
    min_breast_fraction: float = 0.75
    seed: int = 12345
    background_per: str = "roi"

    def __post_init__(self) -> None:
        if self.patch_size <= 0 or self.n_roi < 0 or self.n_background < 0:
            raise ValueError("patch_size must be positive and n_roi, n_background non-negative")
        if not 0 < self.min_overlap <= 1 or not 0 < self.min_breast_fraction <= 1:
            raise ValueError("min_overlap and min_breast_fraction must lie in (0, 1]")
        if self.background_per not in ("roi", "image"):
            raise ValueError("background_per must be 'roi' or 'image'")


@dataclass
class SourceRoi:
    """One row of ``masks.csv``: an ROI and its converted mask."""

    abnormality_id: str
    abnormality_type: str
    pathology: str
    mask_path: str
    source: str


#: A usable ROI: the ROI, its class id and its (padded) boolean mask.
_Usable = tuple[SourceRoi, int, np.ndarray]


@dataclass
class SourceImage:
    """One row of the manifest with its split and its ROIs."""

    image_id: str
    patient_id: str
    png_path: str
    split: str
    source: str
    rois: list[SourceRoi] = field(default_factory=list)


def class_of(abnormality_type: str, pathology: str) -> int | None:
    """Class id for an abnormality, or ``None`` when its type or pathology is unknown."""
    kind = str(abnormality_type).strip().lower()
    path = str(pathology).strip().upper()
    if path.startswith("MALIGNANT"):
        grade = "malignant"
    elif path in ("BENIGN", "BENIGN_WITHOUT_CALLBACK"):
        grade = "benign"
    else:
        return None
    if kind == "mass":
        return PATCH_CLASSES.index(f"{grade}_mass")
    if kind in ("calcification", "calc"):
        return PATCH_CLASSES.index(f"{grade}_calcification")
    return None


def read_grey(path: str) -> np.ndarray | None:
    """A converted PNG as stored (2-D), or ``None`` when unreadable or not greyscale."""
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2:
        return None
    return image


def _natural_key(text: str) -> tuple[int, int, str]:
    text = str(text)
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def _usable_rois(
    item: SourceImage, shape: tuple[int, ...], padded: tuple[int, ...], size: int, exclude: Exclude
) -> tuple[list[_Usable], np.ndarray]:
    """The ROIs with a known class, and the union of every readable ROI mask."""
    union = np.zeros(padded, dtype=bool)
    usable: list[_Usable] = []
    for roi in sorted(item.rois, key=lambda r: _natural_key(r.abnormality_id)):
        what = f"{item.image_id}/{roi.abnormality_id}"
        mask = read_grey(roi.mask_path)
        if mask is None:
            exclude(what, roi.source, f"mask unreadable or not greyscale: {roi.mask_path}")
            continue
        if mask.shape != shape:
            exclude(what, roi.source, f"mask shape {mask.shape} differs from image {shape}")
            continue
        mask = pad_to(mask, size) > 0
        if not mask.any():
            exclude(what, roi.source, "mask has no foreground")
            continue
        union |= mask
        klass = class_of(roi.abnormality_type, roi.pathology)
        if klass is None:
            exclude(
                what,
                roi.source,
                f"unknown abnormality type/pathology {roi.abnormality_type!r}/{roi.pathology!r}"
                " (kept out of background patches)",
            )
            continue
        usable.append((roi, klass, mask))
    return usable, union


def _index_row(
    item: SourceImage, abnormality_id: str, klass: int, box: Placement, size: int
) -> dict[str, Any]:
    return {
        "split": item.split,
        "image_id": item.image_id,
        "patient_id": item.patient_id,
        "abnormality_id": abnormality_id,
        "class": klass,
        "class_name": CLASS_NAMES[klass],
        "y0": box.y0,
        "x0": box.x0,
        "y1": box.y0 + size,
        "x1": box.x0 + size,
        "overlap": round(box.score, 6),
        "threshold": float("nan") if math.isnan(box.threshold) else round(box.threshold, 6),
        "clamped": box.clamped,
    }


def _roi_rows(
    rng: np.random.Generator,
    item: SourceImage,
    usable: list[_Usable],
    options: SamplingOptions,
    exclude: Exclude,
) -> list[dict[str, Any]]:
    """ROI patches of every usable ROI; a shortfall below the floor is excluded."""
    size, n_roi = options.patch_size, options.n_roi
    rows: list[dict[str, Any]] = []
    for roi, klass, mask in usable:
        if n_roi == 1:
            rows.append(
                _index_row(item, roi.abnormality_id, klass, centred_roi_patch(mask, size), size)
            )
            continue
        picks = sample_roi_patches(rng, mask, size, n_roi, options.min_overlap)
        rows += [_index_row(item, roi.abnormality_id, klass, box, size) for box in picks]
        for k in range(len(picks), n_roi):
            exclude(
                f"{item.image_id}/{roi.abnormality_id}/roi_patch_{k}",
                roi.source,
                f"only {len(picks)} of {n_roi} distinct ROI patches reach overlap >= "
                f"{THRESHOLD_FLOOR}",
            )
    return rows


def _background_rows(
    rng: np.random.Generator,
    item: SourceImage,
    image: np.ndarray,
    union: np.ndarray,
    count: int,
    options: SamplingOptions,
    exclude: Exclude,
) -> list[dict[str, Any]]:
    """``count`` background patches of the image; a shortfall below the floor is excluded."""
    if not count:
        return []
    size = options.patch_size
    picks = sample_background_patches(rng, image, union, size, count, options.min_breast_fraction)
    for k in range(len(picks), count):
        exclude(
            f"{item.image_id}/background_{k}",
            item.source,
            f"only {len(picks)} of {count} background patches found outside every ROI with "
            f"breast fraction >= {THRESHOLD_FLOOR}",
        )
    return [_index_row(item, "", 0, box, size) for box in picks]


def plan_image(
    item: SourceImage, options: SamplingOptions, exclude: Exclude
) -> list[dict[str, Any]]:
    """Index rows (without ``patch_set``/``patch_index``) of one image's ROI and background
    patches; problems are reported through ``exclude(item, source, reason)``."""
    image = read_grey(item.png_path)
    if image is None:
        exclude(item.image_id, item.source, f"image unreadable or not greyscale: {item.png_path}")
        return []
    shape = image.shape
    image = pad_to(image, options.patch_size)
    rng = np.random.default_rng([options.seed, zlib.crc32(item.image_id.encode("utf-8"))])
    usable, union = _usable_rois(item, shape, image.shape, options.patch_size, exclude)
    if not usable:
        exclude(item.image_id, item.source, "no usable ROI in this image: no patches sampled")
        return []
    rows = _roi_rows(rng, item, usable, options, exclude)
    per = len(usable) if options.background_per == "roi" else 1
    rows += _background_rows(rng, item, image, union, options.n_background * per, options, exclude)
    return rows


__all__ = [
    "CLASS_NAMES",
    "SamplingOptions",
    "SourceImage",
    "SourceRoi",
    "class_of",
    "plan_image",
    "read_grey",
]
