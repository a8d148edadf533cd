"""Patch sets S1 and S10 (Shen et al. 2019, section 3.1.1): ROI and background patches.

The paper cuts 224x224 patches from 1152x896 images. ``S1`` holds, per ROI, one patch centred
on the ROI and one background patch from the same image; ``S10`` holds, per ROI, 10 patches
sampled around the ROI "with a minimum overlapping ratio of 0.9" and the same number of
background patches from the same image. Classes: 0 background, 1 malignant mass, 2 benign
mass, 3 malignant calcification, 4 benign calcification (``BENIGN_WITHOUT_CALLBACK`` is benign;
any other pathology or abnormality type is excluded).

Geometry
    A patch is the box ``[y0, y1) x [x0, x1)`` of ``patch_size`` pixels a side, in the pixels
    of the converted image. Boxes are always *clamped inside the image* (no padding), so every
    patch holds real pixels; a S1 patch whose centred box would leave the image is shifted
    inwards and flagged ``clamped``. Only when the image itself is smaller than the patch is
    it zero-padded at the bottom/right (the box then reaches past the image).

Overlap ratio (ROI patches)
    As the TFDS ``curated_breast_imaging_ddsm`` builder defines it (tensorflow/datasets,
    ``image_classification/cbis_ddsm.py``, ``_patch_overlaps_any_abnormality_above_threshold``
    and ``_sample_positive_patches``), with ``M`` the ROI mask's foreground and ``B`` the box:
    ``ratio = max(|M & B| / |B|, |M & B| / |M|)`` -- the patch is mostly lesion OR holds most
    of the lesion. The authors' own sampler uses the same OR rule with 0.75; TFDS follows the
    paper's 0.9. A placement is accepted when ``ratio >= threshold`` (TFDS: ``>``).

ROI sampling and relaxation (``n_roi > 1``)
    TFDS draws top-left corners uniformly near the ROI and keeps those above the threshold;
    after 100 tries at one threshold it multiplies the threshold by 0.95 (down to 0.1). Here
    the ratio of *every* in-image placement is computed at once from an integral image of
    the mask, and ``n_roi`` distinct placements are drawn uniformly, without replacement,
    from those with ``ratio >= threshold``. That is the distribution of rejection sampling
    with unlimited tries, so the threshold is relaxed only when fewer than ``n_roi`` distinct
    placements reach it at all (a ROI that is large but sparse/thin, or one whose box leaves
    the image): then the placements that reach it are kept and the threshold is multiplied
    by :data:`RELAX_FACTOR` (0.95, as TFDS) step by step for the rest, down to
    :data:`THRESHOLD_FLOOR` (0.1, TFDS's limit). Each patch records the -- possibly relaxed --
    threshold it met (``threshold``) and its achieved ratio (``overlap``). ROI patches
    still missing below the floor are recorded as exclusions, never silently dropped.
    ``n_roi == 1`` (S1) is the authors' centred scheme: one box centred on the mask centroid
    (image moments), no overlap condition (``threshold`` empty, ``overlap`` = its ratio).

Background patches
    Per ROI, ``n_background`` patches (``background_per="roi"``, the paper's "same number of
    background patches") or per image (``"image"``, the TFDS/authors' count) are drawn
    uniformly, distinct, among placements that overlap NO ROI of the image (the union of all
    its readable masks, including ROIs excluded for their label) and whose fraction of breast
    pixels is ``>= min_breast_fraction`` (TFDS's 0.75; the authors have no such rule). The
    breast mask follows the authors/TFDS segmentation: an 8-bit copy scaled by the image max,
    thresholded at 5% of the max, largest external contour filled. If too few placements
    qualify, the breast fraction is relaxed x0.95 per step down to 0.1 (recorded per patch in
    ``threshold``, the achieved fraction in ``overlap``); patches still missing are exclusions.

Determinism
    Every image has its own generator ``np.random.default_rng([seed, crc32(image_id)])``; ROIs
    are visited in natural ``abnormality_id`` order and images in ``image_id`` order, so results
    depend on neither row order nor parallelism.

Outputs in ``out_dir`` (each written through a temporary file and an atomic rename)
    ``<split>.npy`` (uint16, N x P x P, filled through ``np.lib.format.open_memmap``: a first
    pass plans every box, a second pass reads each image again and cuts its patches, so
    nothing is stacked in memory), ``<split>.csv`` (row i describes array row i),
    ``index.csv`` (all splits), ``exclusions.csv`` (stage ``patches``) and ``counts.csv``
    (split x class) -- the latter last, after any old one was removed at the start, so an
    interrupted run never looks complete.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.constants import PATCH_CLASSES, SPLITS
from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import Exclusion, write_exclusions
from e2e_mammo.io import atomic_write_csv, read_table

STAGE = "patches"
#: Class ids and names.
CLASS_NAMES: dict[int, str] = dict(enumerate(PATCH_CLASSES))
#: Threshold multiplier per relaxation step (TFDS: 0.95).
RELAX_FACTOR = 0.95
#: Relaxation stops below this threshold (TFDS: 0.1).
THRESHOLD_FLOOR = 0.1
#: Breast segmentation threshold, as a fraction of the image max (authors and TFDS: 5%).
BREAST_THRESHOLD = 0.05

MANIFEST_COLUMNS = ("image_id", "patient_id", "png_path")
MASK_COLUMNS = ("image_id", "abnormality_id", "abnormality_type", "pathology", "mask_png_path")
SPLIT_COLUMNS = ("image_id", "split")
INDEX_COLUMNS = (
    "patch_set",
    "patch_index",
    "split",
    "image_id",
    "patient_id",
    "abnormality_id",
    "class",
    "class_name",
    "y0",
    "x0",
    "y1",
    "x1",
    "overlap",
    "threshold",
    "clamped",
)
COUNT_COLUMNS = ("patch_set", "split", "class", "class_name", "count")
_SPLIT_ORDER = SPLITS
_SAFE_SPLIT = re.compile(r"^[A-Za-z0-9_-]+$")
_EPS = 1e-9
_ADDED = ("patch_set", "patch_index")


def scaled_patch_size(patch_size: int, image_height: int, reference_height: int = 1152) -> int:
    """The patch side scaled with the image height (224 px at 1152 rows -> 50 px at 256 rows)."""
    if patch_size <= 0 or image_height <= 0 or reference_height <= 0:
        raise ValueError("patch_size, image_height and reference_height must be positive")
    return max(1, math.floor(patch_size * image_height / reference_height + 0.5))


def class_of(abnormality_type: str, pathology: str) -> int | None:
    """Class id for an abnormality, or ``None`` when its type or pathology is unknown."""
    kind = str(abnormality_type).strip().lower()
    path = str(pathology).strip().upper()
    if path.startswith("MALIGNANT"):
        malignant = True
    elif path in ("BENIGN", "BENIGN_WITHOUT_CALLBACK"):
        malignant = False
    else:
        return None
    if kind == "mass":
        return 1 if malignant else 2
    if kind in ("calcification", "calc"):
        return 3 if malignant else 4
    return None


@dataclass
class PatchSetResult:
    """What :func:`extract_patch_set` wrote: counts per split and class, the index, exclusions."""

    counts: pd.DataFrame
    index: pd.DataFrame
    exclusions: list[Exclusion] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _check_unique(frame: pd.DataFrame, path: Path, column: str) -> None:
    dup = frame[column][frame[column].duplicated(keep=False)]
    if len(dup):
        rows = ", ".join(str(i + 2) for i in dup.index[:5])
        raise DatasetError(path, f"duplicate {column} {dup.iloc[0]!r} (lines {rows})")


def _resolve(value: str, csv_path: Path) -> str:
    """A CSV path value: as given (cwd-relative or absolute), else relative to the CSV folder."""
    path = Path(value)
    if path.is_absolute() or path.exists() or not (csv_path.parent / path).exists():
        return str(path)
    return str(csv_path.parent / path)


def _natural_key(text: str) -> tuple[int, int, str]:
    text = str(text)
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def _read_gray(path: str) -> np.ndarray | None:
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2:
        return None
    return image


def _pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad at the bottom/right so that both sides are at least ``size``."""
    rows, cols = image.shape
    if rows >= size and cols >= size:
        return image
    return np.pad(image, ((0, max(0, size - rows)), (0, max(0, size - cols))))


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


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


def _centred_box(mask: np.ndarray, size: int) -> tuple[int, int, bool]:
    """Top-left of the box centred on the mask centroid, clamped inside the image."""
    ys, xs = np.nonzero(mask)
    cy, cx = float(ys.mean()), float(xs.mean())
    y0 = math.floor(cy - (size - 1) / 2.0 + 0.5)
    x0 = math.floor(cx - (size - 1) / 2.0 + 0.5)
    max_y, max_x = mask.shape[0] - size, mask.shape[1] - size
    cy0, cx0 = min(max(y0, 0), max_y), min(max(x0, 0), max_x)
    return cy0, cx0, (cy0, cx0) != (y0, x0)


def _draw(
    rng: np.random.Generator,
    score: np.ndarray,
    valid: np.ndarray,
    count: int,
    threshold: float,
) -> list[tuple[int, int, float, float]]:
    """Draw ``count`` distinct placements with ``score >= threshold`` (relaxing as needed).

    ``valid`` marks the placements allowed at all and is updated in place (taken ones are
    cleared). Returns ``(y0, x0, score, threshold_used)``; fewer than ``count`` when even the
    floor threshold leaves too few placements.
    """
    chosen: list[tuple[int, int, float, float]] = []
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
                chosen.append((y0, x0, float(flat_score[pick]), float(level)))
        if len(chosen) >= count:
            break
        level *= RELAX_FACTOR
        if level < THRESHOLD_FLOOR - _EPS:
            break
    return chosen


# --------------------------------------------------------------------------------------------
# Planning (pass 1)
# --------------------------------------------------------------------------------------------


@dataclass
class _Roi:
    abnormality_id: str
    abnormality_type: str
    pathology: str
    mask_path: str
    source: str


@dataclass
class _Image:
    image_id: str
    patient_id: str
    png_path: str
    split: str
    source: str
    rois: list[_Roi] = field(default_factory=list)


def _plan_image(
    item: _Image,
    *,
    patch_size: int,
    n_roi: int,
    n_background: int,
    background_per: str,
    min_overlap: float,
    min_breast_fraction: float,
    seed: int,
    exclusions: list[Exclusion],
) -> list[dict]:
    """Boxes (index rows without ``patch_index``) for one image; problems go to exclusions."""

    def exclude(what: str, source: str, reason: str) -> None:
        exclusions.append(Exclusion(STAGE, what, source, reason))

    image = _read_gray(item.png_path)
    if image is None:
        exclude(item.image_id, item.source, f"image unreadable or not greyscale: {item.png_path}")
        return []
    shape = image.shape
    image = _pad_to(image, patch_size)
    rng = np.random.default_rng([seed, zlib.crc32(item.image_id.encode("utf-8"))])

    union = np.zeros(image.shape, dtype=bool)
    usable: list[tuple[_Roi, int, np.ndarray]] = []
    for roi in sorted(item.rois, key=lambda r: _natural_key(r.abnormality_id)):
        what = f"{item.image_id}/{roi.abnormality_id}"
        mask = _read_gray(roi.mask_path)
        if mask is None:
            exclude(what, roi.source, f"mask unreadable or not greyscale: {roi.mask_path}")
            continue
        if mask.shape != shape:
            exclude(what, roi.source, f"mask shape {mask.shape} differs from image {shape}")
            continue
        mask = _pad_to(mask, patch_size) > 0
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

    if not usable:
        exclude(item.image_id, item.source, "no usable ROI in this image: no patches sampled")
        return []

    def row(abn: str, klass: int, y0: int, x0: int, score: float, thr: float, clamp: bool):
        return {
            "split": item.split,
            "image_id": item.image_id,
            "patient_id": item.patient_id,
            "abnormality_id": abn,
            "class": klass,
            "class_name": CLASS_NAMES[klass],
            "y0": y0,
            "x0": x0,
            "y1": y0 + patch_size,
            "x1": x0 + patch_size,
            "overlap": round(score, 6),
            "threshold": float("nan") if math.isnan(thr) else round(thr, 6),
            "clamped": clamp,
        }

    rows: list[dict] = []
    for roi, klass, mask in usable:
        ratio = overlap_ratio_map(mask, patch_size)
        if n_roi == 1:
            y0, x0, clamped = _centred_box(mask, patch_size)
            rows.append(
                row(roi.abnormality_id, klass, y0, x0, ratio[y0, x0], float("nan"), clamped)
            )
            continue
        valid = np.ones(ratio.shape, dtype=bool)
        picks = _draw(rng, ratio, valid, n_roi, min_overlap)
        for y0, x0, score, thr in picks:
            rows.append(row(roi.abnormality_id, klass, y0, x0, score, thr, False))
        for k in range(len(picks), n_roi):
            exclude(
                f"{item.image_id}/{roi.abnormality_id}/roi_patch_{k}",
                roi.source,
                f"only {len(picks)} of {n_roi} distinct ROI patches reach overlap >= "
                f"{THRESHOLD_FLOOR}",
            )

    n_bg = n_background * (len(usable) if background_per == "roi" else 1)
    if n_bg:
        fraction = box_sums(breast_mask(image), patch_size) / float(patch_size * patch_size)
        valid = box_sums(union, patch_size) == 0
        picks = _draw(rng, fraction, valid, n_bg, min_breast_fraction)
        for y0, x0, score, thr in picks:
            rows.append(row("", 0, y0, x0, score, thr, False))
        for k in range(len(picks), n_bg):
            exclude(
                f"{item.image_id}/background_{k}",
                item.source,
                f"only {len(picks)} of {n_bg} background patches found outside every ROI with "
                f"breast fraction >= {THRESHOLD_FLOOR}",
            )
    return rows


# --------------------------------------------------------------------------------------------
# Writing (pass 2)
# --------------------------------------------------------------------------------------------


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_split_array(
    path: Path, rows: pd.DataFrame, paths: dict[str, str], patch_size: int, progress: _Progress
) -> None:
    """Cut the planned boxes into a ``uint16`` N x P x P ``.npy`` (memmap, atomic rename)."""
    tmp = _tmp(path)
    shape = (len(rows), patch_size, patch_size)
    if len(rows) == 0:
        with open(tmp, "wb") as handle:
            np.save(handle, np.zeros(shape, dtype=np.uint16))
        os.replace(tmp, path)
        return
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint16, shape=shape)
    try:
        for image_id, group in rows.groupby("image_id", sort=False):
            image = _read_gray(paths[image_id])
            if image is None:
                raise DatasetError(paths[image_id], "image became unreadable while cutting")
            image = _pad_to(image, patch_size)
            for i, y0, x0 in zip(group.index, group["y0"], group["x0"], strict=True):
                crop = image[y0 : y0 + patch_size, x0 : x0 + patch_size]
                array[i] = np.clip(crop, 0, 65535).astype(np.uint16, copy=False)
            progress.tick()
        array.flush()
    finally:
        del array
    os.replace(tmp, path)


class _Progress:
    def __init__(self, name: str, what: str, total: int, enabled: bool) -> None:
        self.name, self.what, self.total, self.enabled = name, what, total, enabled
        self.done = 0
        self.start = self.last = time.monotonic()
        self.step = max(1, total // 20)
        if enabled:
            print(f"patches {name}: {what} {total} image(s)", file=sys.stderr, flush=True)

    def tick(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if self.done % self.step == 0 or now - self.last >= 10 or self.done == self.total:
            rate = self.done / max(now - self.start, 1e-9)
            print(
                f"patches {self.name}: {self.what} {self.done}/{self.total} ({rate:.1f} images/s)",
                file=sys.stderr,
                flush=True,
            )
            self.last = now


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def extract_patch_set(
    manifest_csv: Path,
    masks_csv: Path,
    splits_csv: Path,
    out_dir: Path,
    *,
    patch_set: str,
    patch_size: int,
    n_roi: int,
    n_background: int,
    min_overlap: float = 0.9,
    min_breast_fraction: float = 0.75,
    seed: int = 12345,
    progress: bool = True,
    background_per: str = "roi",
) -> PatchSetResult:
    """Sample a patch set (S1: ``n_roi=n_background=1``; S10: 10 and 10) split by split.

    Args:
        manifest_csv: converted images (``image_id, patient_id, png_path``).
        masks_csv: converted ROI masks (``image_id, abnormality_id, abnormality_type,
            pathology, mask_png_path``).
        splits_csv: ``image_id, split``; an image missing here is excluded.
        out_dir: output folder (created).
        patch_set: name recorded in the outputs ("S1", "S10").
        patch_size: patch side in pixels of the converted images (see
            :func:`scaled_patch_size`).
        n_roi: ROI patches per ROI; 1 means one patch centred on the ROI.
        n_background: background patches per ROI (``background_per="roi"``) or per image.
        min_overlap: minimum overlap ratio of ROI patches before relaxation (paper: 0.9).
        min_breast_fraction: minimum breast fraction of background patches (TFDS: 0.75).
        seed: base seed; each image uses ``default_rng([seed, crc32(image_id)])``.
        progress: print progress lines on stderr.
        background_per: ``"roi"`` or ``"image"``.

    Raises:
        DatasetError: a CSV is missing or lacks a column (named), duplicate ids, bad split
            names, or an image that becomes unreadable between the two passes.
    """
    manifest_csv, masks_csv, splits_csv = Path(manifest_csv), Path(masks_csv), Path(splits_csv)
    out_dir = Path(out_dir)
    if patch_size <= 0 or n_roi < 0 or n_background < 0:
        raise ValueError("patch_size must be positive and n_roi, n_background non-negative")
    if not 0 < min_overlap <= 1 or not 0 < min_breast_fraction <= 1:
        raise ValueError("min_overlap and min_breast_fraction must lie in (0, 1]")
    if background_per not in ("roi", "image"):
        raise ValueError("background_per must be 'roi' or 'image'")

    manifest = read_table(manifest_csv, MANIFEST_COLUMNS)
    masks = read_table(masks_csv, MASK_COLUMNS)
    splits = read_table(splits_csv, SPLIT_COLUMNS)
    _check_unique(manifest, manifest_csv, "image_id")
    _check_unique(splits, splits_csv, "image_id")
    for i, name in splits["split"].items():
        if not _SAFE_SPLIT.match(name):
            raise DatasetError(splits_csv, f"split name {name!r} is not a plain word", row=i + 2)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "counts.csv").unlink(missing_ok=True)  # incomplete until written again last

    exclusions: list[Exclusion] = []
    split_of = dict(zip(splits["image_id"], splits["split"], strict=True))
    # train/val/test always get their files (possibly empty) so that downstream rules can
    # declare them; a training job then says which split has no patches.
    split_names = sorted(
        set(splits["split"]) | set(_SPLIT_ORDER),
        key=lambda s: (_SPLIT_ORDER.index(s) if s in _SPLIT_ORDER else len(_SPLIT_ORDER), s),
    )

    images: dict[str, _Image] = {}
    for i, rec in manifest.iterrows():
        source = f"{manifest_csv}:{i + 2}"
        image_id = rec["image_id"]
        if image_id not in split_of:
            exclusions.append(
                Exclusion(STAGE, image_id, source, "image not in splits.csv: no split to cut from")
            )
            continue
        images[image_id] = _Image(
            image_id=image_id,
            patient_id=rec["patient_id"],
            png_path=_resolve(rec["png_path"], manifest_csv),
            split=split_of[image_id],
            source=source,
        )
    known = set(manifest["image_id"])
    for i, rec in masks.iterrows():
        source = f"{masks_csv}:{i + 2}"
        image_id = rec["image_id"]
        if image_id in images:
            images[image_id].rois.append(
                _Roi(
                    abnormality_id=rec["abnormality_id"],
                    abnormality_type=rec["abnormality_type"],
                    pathology=rec["pathology"],
                    mask_path=_resolve(rec["mask_png_path"], masks_csv),
                    source=source,
                )
            )
        elif image_id not in known:
            exclusions.append(
                Exclusion(
                    STAGE,
                    f"{image_id}/{rec['abnormality_id']}",
                    source,
                    "mask's image is not in the manifest",
                )
            )
        # else: the image is excluded (not in splits.csv); that exclusion covers its ROIs.

    # Pass 1: plan every box, split by split.
    planner = _Progress(patch_set, "planned", len(images), progress)
    plans: dict[str, pd.DataFrame] = {}
    for split in split_names:
        rows: list[dict] = []
        for image_id in sorted(i for i, item in images.items() if item.split == split):
            rows.extend(
                _plan_image(
                    images[image_id],
                    patch_size=patch_size,
                    n_roi=n_roi,
                    n_background=n_background,
                    background_per=background_per,
                    min_overlap=min_overlap,
                    min_breast_fraction=min_breast_fraction,
                    seed=seed,
                    exclusions=exclusions,
                )
            )
            planner.tick()
        frame = pd.DataFrame(rows, columns=[c for c in INDEX_COLUMNS if c not in _ADDED])
        frame.insert(0, "patch_index", np.arange(len(frame), dtype=np.int64))
        frame.insert(0, "patch_set", patch_set)
        frame["abnormality_id"] = frame["abnormality_id"].astype(str)
        plans[split] = frame[list(INDEX_COLUMNS)]

    # Pass 2: cut and write each split (array first, then its index).
    paths = {i: item.png_path for i, item in images.items()}
    n_planned = sum(frame["image_id"].nunique() for frame in plans.values())
    cutter = _Progress(patch_set, "cut", n_planned, progress)
    for split, frame in plans.items():
        _write_split_array(out_dir / f"{split}.npy", frame, paths, patch_size, cutter)
        atomic_write_csv(frame, out_dir / f"{split}.csv")

    index = (
        pd.concat(list(plans.values()), ignore_index=True)
        if plans
        else pd.DataFrame(columns=list(INDEX_COLUMNS))
    )
    atomic_write_csv(index, out_dir / "index.csv")
    write_exclusions(exclusions, out_dir / "exclusions.csv")

    counts_rows = []
    for split in split_names:
        per_class = plans[split]["class"].value_counts()
        for klass, name in CLASS_NAMES.items():
            counts_rows.append(
                {
                    "patch_set": patch_set,
                    "split": split,
                    "class": klass,
                    "class_name": name,
                    "count": int(per_class.get(klass, 0)),
                }
            )
    counts = pd.DataFrame(counts_rows, columns=list(COUNT_COLUMNS))
    atomic_write_csv(counts, out_dir / "counts.csv")
    if progress:
        total = int(counts["count"].sum())
        print(
            f"patches {patch_set}: {total} patch(es) in {len(split_names)} split(s), "
            f"{len(exclusions)} exclusion(s) -> {out_dir}",
            file=sys.stderr,
            flush=True,
        )
    return PatchSetResult(counts=counts, index=index, exclusions=exclusions)
