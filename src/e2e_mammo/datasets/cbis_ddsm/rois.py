"""CBIS-DDSM ROI files: the mask and the crop of each ROI, told apart by their content."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import pydicom

from e2e_mammo.datasets.cbis_ddsm.descriptions import PATHOLOGY_LABEL, TREE_DIR
from e2e_mammo.datasets.cbis_ddsm.tree import Tree
from e2e_mammo.datasets.indexing import (
    ExclusionLog,
    Header,
    is_missing,
    read_file_header,
)

log = logging.getLogger(__name__)


def _binary_pixels(path: str) -> tuple[bool, bool]:
    """(is binary i.e. values within {0, v}; has foreground) for the pixels of ``path``."""
    arr = pydicom.dcmread(path).pixel_array
    top = int(arr.max()) if arr.size else 0
    if top == 0:
        return True, False
    binary = bool(np.all((arr == 0) | (arr == top)))
    return binary, True


def _check_mask_candidates(
    headers: dict[str, Header], image_shape: tuple[int, int] | None
) -> tuple[dict[str, tuple[bool, bool]], list[tuple[str, str]]]:
    """Read the pixels of the files that may be the mask: 8-bit files, or else large 16-bit ones.

    Returns path -> (binary, has foreground) for the files read, and (path, reason) for files
    whose pixels could not be read.
    """
    checked: dict[str, tuple[bool, bool]] = {}
    problems: list[tuple[str, str]] = []

    def check(paths: list[str]) -> None:
        for path in paths:
            try:
                checked[path] = _binary_pixels(path)
            except Exception as exc:  # corrupt pixel data
                problems.append((path, f"unreadable pixel data ({type(exc).__name__}: {exc})"))

    check([p for p, h in headers.items() if h.bits_allocated <= 8])
    if not any(binary for binary, _ in checked.values()):
        # no 8-bit binary file: try large 16-bit files (a mask stored on 16 bits)
        area = image_shape[0] * image_shape[1] if image_shape else None
        check(
            [
                p
                for p, h in headers.items()
                if p not in checked
                and h.bits_allocated > 8
                and (area is None or h.rows * h.cols >= 0.25 * area)
            ]
        )
    return checked, problems


def _classify_roi(
    headers: dict[str, Header], image_shape: tuple[int, int] | None
) -> tuple[str | None, str | None, str | None, list[tuple[str, str]]]:
    """Tell mask from crop by content.

    Returns:
        (mask path, crop path, problem, file problems). ``problem`` is why no usable mask was
        found (``None`` when the mask is fine). ``file problems`` are (path, reason) for files that
        could not be read or were not used.
    """
    checked, file_problems = _check_mask_candidates(headers, image_shape)
    candidates = [p for p, (binary, _) in checked.items() if binary]
    if not candidates:
        return None, None, "no file looks like a mask (no binary 8-bit image among the files)", []

    def distance(path: str) -> float:
        if image_shape is None:
            return 0.0
        h = headers[path]
        return abs(h.rows - image_shape[0]) + abs(h.cols - image_shape[1])

    candidates.sort(key=lambda p: (not checked[p][1], distance(p), p))
    if len(candidates) > 1 and (
        checked[candidates[0]][1] == checked[candidates[1]][1]
        and distance(candidates[0]) == distance(candidates[1])
    ):
        names = ", ".join(os.path.basename(p) for p in candidates)
        return None, None, f"several files look like the mask ({names}); cannot tell which", []
    mask = candidates[0]
    for extra in candidates[1:]:
        file_problems.append((extra, "second mask-like file in the ROI folder; not used"))
    crop = _pick_crop(headers, candidates, checked, file_problems)
    if not checked[mask][1]:
        return mask, crop, "mask has no foreground (all pixels 0)", file_problems
    return mask, crop, None, file_problems


def _pick_crop(
    headers: dict[str, Header],
    candidates: list[str],
    checked: dict[str, tuple[bool, bool]],
    file_problems: list[tuple[str, str]],
) -> str | None:
    """The crop among the files that are not mask-like (the smallest; the others noted)."""
    crops = [p for p in headers if p not in candidates and not checked.get(p, (False, False))[0]]
    if not crops:
        return None
    crop = min(crops, key=lambda p: headers[p].rows * headers[p].cols)
    for extra in crops:
        if extra != crop:
            file_problems.append((extra, "extra file in the ROI folder; not used"))
    return crop


def _read_roi_headers(row: pd.Series, tree: Tree, xlog: ExclusionLog) -> dict[str, Header]:
    """The readable DICOM headers under a ROI's subject folder (unreadable files excluded)."""
    roi_id = row["roi_id"]
    headers: dict[str, Header] = {}
    for path in (f for group in tree.get(roi_id, {}).values() for f in group):
        try:
            headers[path] = read_file_header(path)
        except ValueError as exc:
            xlog.exclude(roi_id, path, f"ROI file: {exc}")
    return headers


def index_roi(
    row: pd.Series, tree: Tree, image_shape: tuple[int, int], xlog: ExclusionLog
) -> tuple[dict | None, str]:
    """Find and classify the files of one ROI row; record exclusions; return the rois.csv record
    (without the image's fields) or ``None`` and why."""
    roi_id = row["roi_id"]
    if not tree.get(roi_id):
        why = f"ROI files missing: no .dcm files under {TREE_DIR}/{roi_id}"
        xlog.exclude(roi_id, row["source"], why, row=int(row["source_row"]))
        return None, why
    headers = _read_roi_headers(row, tree, xlog)
    if not headers:
        why = "no readable DICOM file in the ROI folder"
        xlog.exclude(roi_id, row["source"], why, row=int(row["source_row"]))
        return None, why
    mask, crop, problem, file_problems = _classify_roi(headers, image_shape)
    for path, reason in file_problems:
        xlog.exclude(roi_id, path, f"ROI file: {reason}")
    if problem is not None:
        xlog.exclude(roi_id, mask or os.path.dirname(next(iter(headers))), problem)
        return None, problem
    assert mask is not None
    if crop is None:
        xlog.exclude(
            f"{roi_id}:crop",
            os.path.dirname(mask),
            "no cropped image found next to the mask; ROI kept with an empty crop_path",
        )
    return _roi_record(row, mask, crop, headers[mask], image_shape), ""


def _roi_record(
    row: pd.Series, mask: str, crop: str | None, mask_header: Header, image_shape: tuple[int, int]
) -> dict:
    """The rois.csv fields of one ROI that do not come from its image."""
    matches = (mask_header.rows, mask_header.cols) == image_shape
    if not matches:
        log.info(
            "%s: mask %dx%d differs from its image %dx%d (kept)",
            row["roi_id"],
            mask_header.rows,
            mask_header.cols,
            *image_shape,
        )
    kind = row["abnormality_type"]
    return {
        "roi_id": row["roi_id"],
        "abnormality_id": int(row["abnormality_id"]),
        "abnormality_type": "" if is_missing(kind) else kind,
        "pathology": row["pathology"],
        "label": PATHOLOGY_LABEL[row["pathology"]],
        "mask_path": mask,
        "crop_path": crop or "",
        "mask_rows": mask_header.rows,
        "mask_cols": mask_header.cols,
        "mask_matches_image": bool(matches),
        "source": f"{row['source']}:{row['source_row']}",
    }
