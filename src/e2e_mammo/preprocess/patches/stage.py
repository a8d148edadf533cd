"""The patch-set stage: converted images, masks and splits -> patch arrays and tables.

Reads ``manifest.csv`` (``image_id, patient_id, png_path``), ``masks.csv`` (``image_id,
abnormality_id, abnormality_type, pathology, mask_png_path``) and ``splits.csv`` (``image_id,
split``); plans every box split by split (:mod:`~e2e_mammo.preprocess.patches.plan`), then cuts
them (:mod:`~e2e_mammo.preprocess.patches.cutting`). An image missing from ``splits.csv`` and a
mask whose image is not in the manifest are exclusions.

Outputs in ``out_dir`` (each written through a temporary file and an atomic rename):
``<split>.npy`` and ``<split>.csv`` (row i describes array row i) for every split, and always
for ``train``/``val``/``test`` (possibly empty, so downstream rules can declare them);
``index.csv`` (all splits), ``exclusions.csv`` (stage ``patches``) and ``counts.csv`` (split x
class) -- the latter last, after any old one was removed at the start, so an interrupted run
never looks complete. The tables that hold dataset IDs (``<split>.csv``, ``index.csv``) are
written spreadsheet-safe (``safe=True`` of :func:`~e2e_mammo.io.atomic_write_csv`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from e2e_mammo.constants import SPLITS
from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import Exclusion, write_exclusions
from e2e_mammo.io import atomic_write_csv, read_table
from e2e_mammo.logs import Progress
from e2e_mammo.preprocess.patches.cutting import write_split_array
from e2e_mammo.preprocess.patches.plan import (
    CLASS_NAMES,
    SamplingOptions,
    SourceImage,
    SourceRoi,
    plan_image,
)
from e2e_mammo.preprocess.paths import resolve_listed_path

STAGE = "patches"
MANIFEST_COLUMNS = ("image_id", "patient_id", "png_path")
MASK_COLUMNS = ("image_id", "abnormality_id", "abnormality_type", "pathology", "mask_png_path")
SPLIT_COLUMNS = ("image_id", "split")
#: Columns of ``<split>.csv`` and ``index.csv``.
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
#: Columns of ``counts.csv``.
COUNT_COLUMNS = ("patch_set", "split", "class", "class_name", "count")
_SAFE_SPLIT = re.compile(r"^[A-Za-z0-9_-]+$")
_ADDED = ("patch_set", "patch_index")


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


def _read_inputs(
    manifest_csv: Path, masks_csv: Path, splits_csv: Path
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three input tables, checked: unique image ids, split names that are plain words."""
    manifest = read_table(manifest_csv, MANIFEST_COLUMNS)
    masks = read_table(masks_csv, MASK_COLUMNS)
    splits = read_table(splits_csv, SPLIT_COLUMNS)
    _check_unique(manifest, manifest_csv, "image_id")
    _check_unique(splits, splits_csv, "image_id")
    for i, name in splits["split"].items():
        if not _SAFE_SPLIT.match(name):
            raise DatasetError(splits_csv, f"split name {name!r} is not a plain word", row=i + 2)
    return manifest, masks, splits


def _split_names(splits: pd.DataFrame) -> list[str]:
    """The splits of ``splits.csv`` plus train/val/test, in that order, then by name."""
    return sorted(
        set(splits["split"]) | set(SPLITS),
        key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s),
    )


def _source_images(
    manifest: pd.DataFrame,
    manifest_csv: Path,
    split_of: dict[str, str],
    exclusions: list[Exclusion],
) -> dict[str, SourceImage]:
    """The manifest's images that have a split; the others are excluded."""
    images: dict[str, SourceImage] = {}
    for i, rec in manifest.iterrows():
        source = f"{manifest_csv}:{i + 2}"
        image_id = rec["image_id"]
        if image_id not in split_of:
            reason = "image not in splits.csv: no split to cut from"
            exclusions.append(Exclusion(STAGE, image_id, source, reason))
            continue
        images[image_id] = SourceImage(
            image_id=image_id,
            patient_id=rec["patient_id"],
            png_path=resolve_listed_path(rec["png_path"], manifest_csv),
            split=split_of[image_id],
            source=source,
        )
    return images


def _attach_rois(
    masks: pd.DataFrame,
    masks_csv: Path,
    images: dict[str, SourceImage],
    known: set[str],
    exclusions: list[Exclusion],
) -> None:
    """Add each mask to its image; a mask whose image is not in the manifest is excluded."""
    for i, rec in masks.iterrows():
        source = f"{masks_csv}:{i + 2}"
        image_id = rec["image_id"]
        if image_id in images:
            images[image_id].rois.append(
                SourceRoi(
                    abnormality_id=rec["abnormality_id"],
                    abnormality_type=rec["abnormality_type"],
                    pathology=rec["pathology"],
                    mask_path=resolve_listed_path(rec["mask_png_path"], masks_csv),
                    source=source,
                )
            )
        elif image_id not in known:
            item = f"{image_id}/{rec['abnormality_id']}"
            reason = "mask's image is not in the manifest"
            exclusions.append(Exclusion(STAGE, item, source, reason))
        # else: the image is excluded (not in splits.csv); that exclusion covers its ROIs.


# --------------------------------------------------------------------------------------------
# The two passes and the tables
# --------------------------------------------------------------------------------------------


def _plan_split(
    images: list[SourceImage],
    patch_set: str,
    options: SamplingOptions,
    exclusions: list[Exclusion],
    progress: Progress,
) -> pd.DataFrame:
    """Pass 1 for one split: the index of its patches (images in ``image_id`` order)."""

    def exclude(item: str, source: str, reason: str) -> None:
        exclusions.append(Exclusion(STAGE, item, source, reason))

    rows: list[dict] = []
    for item in sorted(images, key=lambda image: image.image_id):
        rows.extend(plan_image(item, options, exclude))
        progress.tick()
    frame = pd.DataFrame(rows, columns=[c for c in INDEX_COLUMNS if c not in _ADDED])
    frame.insert(0, "patch_index", np.arange(len(frame), dtype=np.int64))
    frame.insert(0, "patch_set", patch_set)
    frame["abnormality_id"] = frame["abnormality_id"].astype(str)
    return frame[list(INDEX_COLUMNS)]


def _plan_splits(
    images: dict[str, SourceImage],
    split_names: list[str],
    patch_set: str,
    options: SamplingOptions,
    exclusions: list[Exclusion],
    progress: bool,
) -> dict[str, pd.DataFrame]:
    """Pass 1: the index of every split, in ``split_names`` order."""
    planner = Progress(f"patches {patch_set} plan", len(images), enabled=progress)
    planner.note(f"{len(images)} image(s) to plan")
    return {
        split: _plan_split(
            [item for item in images.values() if item.split == split],
            patch_set,
            options,
            exclusions,
            planner,
        )
        for split in split_names
    }


def _cut_splits(
    plans: dict[str, pd.DataFrame],
    images: dict[str, SourceImage],
    out_dir: Path,
    patch_set: str,
    patch_size: int,
    progress: bool,
) -> pd.DataFrame:
    """Pass 2: each split's array then its index; returns the index of all splits."""
    n_cut = sum(frame["image_id"].nunique() for frame in plans.values())
    cutter = Progress(f"patches {patch_set} cut", n_cut, enabled=progress)
    cutter.note(f"{n_cut} image(s) with patches to cut")
    paths = {image_id: item.png_path for image_id, item in images.items()}
    for split, frame in plans.items():
        write_split_array(out_dir / f"{split}.npy", frame, paths, patch_size, cutter)
        atomic_write_csv(frame, out_dir / f"{split}.csv", safe=True)
    return (
        pd.concat(list(plans.values()), ignore_index=True)
        if plans
        else pd.DataFrame(columns=list(INDEX_COLUMNS))
    )


def _counts_table(plans: dict[str, pd.DataFrame], patch_set: str) -> pd.DataFrame:
    """``counts.csv``: patches per split and class (every class, zeros included)."""
    rows = []
    for split, frame in plans.items():
        per_class = frame["class"].value_counts()
        for klass, name in CLASS_NAMES.items():
            rows.append(
                {
                    "patch_set": patch_set,
                    "split": split,
                    "class": klass,
                    "class_name": name,
                    "count": int(per_class.get(klass, 0)),
                }
            )
    return pd.DataFrame(rows, columns=list(COUNT_COLUMNS))


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def extract_patch_set(
    manifest_csv: Path,
    masks_csv: Path,
    splits_csv: Path,
    out_dir: Path,
    patch_set: str,
    options: SamplingOptions,
    progress: bool = True,
) -> PatchSetResult:
    """Sample a patch set (S1: ``n_roi=n_background=1``; S10: 10 and 10) split by split.

    Args:
        manifest_csv, masks_csv, splits_csv: the converted images, their ROI masks and the
            splits (see the module docstring); an image missing from the splits is excluded.
        out_dir: output folder (created).
        patch_set: name recorded in the outputs ("S1", "S10").
        options: how the set is sampled
            (:class:`~e2e_mammo.preprocess.patches.plan.SamplingOptions`).
        progress: print progress lines on stderr.

    Raises:
        DatasetError: a CSV is missing or lacks a column (named), duplicate ids, bad split
            names, or an image that becomes unreadable between the two passes.
    """
    manifest_csv, masks_csv, splits_csv = Path(manifest_csv), Path(masks_csv), Path(splits_csv)
    manifest, masks, splits = _read_inputs(manifest_csv, masks_csv, splits_csv)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "counts.csv").unlink(missing_ok=True)  # incomplete until written again last

    exclusions: list[Exclusion] = []
    split_of = dict(zip(splits["image_id"], splits["split"], strict=True))
    images = _source_images(manifest, manifest_csv, split_of, exclusions)
    _attach_rois(masks, masks_csv, images, set(manifest["image_id"]), exclusions)
    plans = _plan_splits(images, _split_names(splits), patch_set, options, exclusions, progress)
    index = _cut_splits(plans, images, out_dir, patch_set, options.patch_size, progress)
    atomic_write_csv(index, out_dir / "index.csv", safe=True)
    write_exclusions(exclusions, out_dir / "exclusions.csv")
    counts = _counts_table(plans, patch_set)
    atomic_write_csv(counts, out_dir / "counts.csv")
    Progress(f"patches {patch_set}", 0, enabled=progress).note(
        f"{int(counts['count'].sum())} patch(es) in {len(plans)} split(s), "
        f"{len(exclusions)} exclusion(s) -> {out_dir}"
    )
    return PatchSetResult(counts=counts, index=index, exclusions=exclusions)


__all__ = [
    "COUNT_COLUMNS",
    "INDEX_COLUMNS",
    "STAGE",
    "PatchSetResult",
    "extract_patch_set",
]
