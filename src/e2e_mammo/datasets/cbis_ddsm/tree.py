"""The CBIS-DDSM DICOM tree: one walk of it, ``metadata.csv``, the one full image of each view."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from e2e_mammo.datasets.cbis_ddsm.descriptions import (
    METADATA_FILE,
    TREE_DIR,
    drop_rois,
    split_path,
    view_id,
)
from e2e_mammo.datasets.indexing import (
    ExclusionLog,
    Header,
    dicom_folders,
    read_dataset_csv,
    read_file_header,
)
from e2e_mammo.errors import DatasetError

log = logging.getLogger(__name__)


Tree = dict[str, dict[tuple[str, ...], list[str]]]


def scan_tree(base: Path) -> Tree:
    """One walk of ``CBIS-DDSM/``: subject -> {folder parts below it: sorted .dcm paths}."""
    with os.scandir(base) as entries:
        subjects = sorted(e.name for e in entries if e.is_dir())
    return {subject: dicom_folders(base / subject) for subject in subjects}


def read_metadata(root: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``Series UID`` -> (subject, folder parts below the subject) from ``metadata.csv``, if any."""
    path = root / METADATA_FILE
    if not path.is_file():
        log.info("no %s in %s: locating series by their UIDs", METADATA_FILE, root)
        return {}
    try:
        frame = read_dataset_csv(path, ("series_uid", "file_location"))
    except DatasetError as exc:
        log.warning("ignoring %s, locating series by their UIDs instead: %s", path, exc)
        return {}
    mapping: dict[str, tuple[str, tuple[str, ...]]] = {}
    for uid, location in zip(frame["series_uid"], frame["file_location"], strict=True):
        parts = split_path(location)
        if len(parts) >= 2 and parts[0] == TREE_DIR and uid:
            mapping[uid] = (parts[1], tuple(parts[2:]))
    log.info("%s: %d series locations", path, len(mapping))
    return mapping


def _name_matches(name: str, uid: str) -> bool:
    """``name`` is the full ``uid`` (classic) or ends in ``-<last 5 digits>`` (descriptive)."""
    return name == uid or (len(uid) >= 5 and name.endswith("-" + uid[-5:]))


def _series_files(
    tree: Tree,
    metadata: dict[str, tuple[str, tuple[str, ...]]],
    subject: str,
    study_uid: str,
    series_uid: str,
) -> tuple[list[str], str]:
    """The .dcm files of one series and how they were found (or why not)."""
    dirs = tree.get(subject)
    if dirs is None:
        return [], f"folder {TREE_DIR}/{subject} not found"
    located = metadata.get(series_uid)
    if located is not None and located[0] == subject and located[1] in dirs:
        return list(dirs[located[1]]), "metadata.csv"
    matches = [
        parts
        for parts in dirs
        if _name_matches(parts[-1], series_uid)
        and (len(parts) < 2 or _name_matches(parts[-2], study_uid))
    ]
    if not matches:
        matches = [parts for parts in dirs if parts and _name_matches(parts[-1], series_uid)]
    if not matches:
        return [], (
            f"no series folder for Series UID {series_uid} under {TREE_DIR}/{subject} "
            "(expected the full UID or a name ending in -" + series_uid[-5:] + ")"
        )
    return [f for parts in matches for f in dirs[parts]], "UIDs"


@dataclass
class FullImage:
    """What was found for one listing's full image: its DICOM, or why it cannot be used."""

    files: list[str] = field(default_factory=list)  # the series' .dcm files (all referenced)
    path: str = ""  # the one DICOM, when usable
    header: Header | None = None
    problem: str = ""  # why not usable
    kind: str = ""  # short form of the problem, for the ROIs left out with the image
    where: str = ""  # the file (or CSV) the problem is about
    row: int | None = None


def _find_full_image(
    first: pd.Series, tree: Tree, metadata: dict[str, tuple[str, tuple[str, ...]]]
) -> FullImage:
    """Locate and read the header of the full image of one listing (``first``: its first row)."""
    files, how = _series_files(
        tree, metadata, first["image_id"], first["image_study_uid"], first["image_series_uid"]
    )
    if not files:
        return FullImage(
            problem=f"full image missing: {how}",
            kind="full image missing",
            where=first["source"],
            row=int(first["source_row"]),
        )
    if len(files) > 1:
        names = ", ".join(os.path.basename(f) for f in files)
        return FullImage(
            files,
            problem=f"{len(files)} DICOM files in the full-image series (expected 1): {names}",
            kind="ambiguous full image",
            where=os.path.dirname(files[0]),
        )
    try:
        header = read_file_header(files[0])
    except ValueError as exc:
        return FullImage(
            files, problem=f"full image: {exc}", kind="unreadable full image", where=files[0]
        )
    log.debug("%s: full image via %s", first["image_id"], how)
    return FullImage(files, path=files[0], header=header)


def choose_full_images(
    listings: pd.DataFrame,
    rows: pd.DataFrame,
    tree: Tree,
    metadata: dict[str, tuple[str, tuple[str, ...]]],
    xlog: ExclusionLog,
) -> tuple[pd.DataFrame, dict[str, FullImage], set[str]]:
    """Keep one usable DICOM per view, trying its listings in ``rank`` order.

    Returns the listings with ``kept_id`` set to the listing kept (empty when none is usable),
    kept ``image_id`` -> its full image, and every full-image file the listings refer to.
    """
    first_rows = rows.sort_values("source_row").drop_duplicates("image_id")
    first_rows = first_rows.set_index("image_id", drop=False)
    rows_by_image = dict(tuple(rows.groupby("image_id")))
    kept_ids: dict[str, str] = {}
    chosen: dict[str, FullImage] = {}
    claimed: set[str] = set()
    for view, group in listings.groupby("view_id", sort=True):
        found = {
            image_id: _find_full_image(first_rows.loc[image_id], tree, metadata)
            for image_id in group.sort_values("rank")["image_id"]
        }
        claimed.update(f for image in found.values() for f in image.files)
        kept = next((image_id for image_id, image in found.items() if image.header), None)
        if kept is not None:
            kept_ids[view], chosen[kept] = kept, found[kept]
        _report_listings(found, kept, rows_by_image, xlog)
    listings = listings.assign(kept_id=[kept_ids.get(v, "") for v in listings["view_id"]])
    return listings, chosen, claimed


def _report_listings(
    found: dict[str, FullImage],
    kept: str | None,
    rows_by_image: dict[str, pd.DataFrame],
    xlog: ExclusionLog,
) -> None:
    """Exclusions for the listings of one view that are not kept (duplicates or unusable)."""
    for image_id, image in found.items():
        if image_id == kept:
            continue
        if kept is None:
            xlog.exclude(image_id, image.where, image.problem, row=image.row)
            drop_rois(rows_by_image[image_id], f"ROI excluded with its image ({image.kind})", xlog)
            continue
        reason = (
            f"duplicate of {kept}: the same scan ({view_id(kept)}) listed under two SubjectIDs; "
            f"one image kept, holding the ROIs of both"
        )
        if image.problem:
            xlog.exclude(
                image_id, image.where, f"{reason} (its own {image.problem})", row=image.row
            )
        else:
            xlog.record(image_id, image.path, reason)
