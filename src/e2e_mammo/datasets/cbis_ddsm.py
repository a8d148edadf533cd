"""Index a real CBIS-DDSM download (TCIA / NBIA Data Retriever) into ``images.csv``/``rois.csv``.

Input (``docs/data-formats.md`` §1):

- ``ROOT/CBIS-DDSM/<SubjectID>/...`` in either retriever layout: *classic*
  ``<StudyUID>/<SeriesUID>/*.dcm`` or *descriptive*
  ``<date>-DDSM[-NA]-<last5 StudyUID>/<1|1.000000>-<description>-<last5 SeriesUID>/*.dcm``;
- optionally ``ROOT/metadata.csv`` (retriever output; ``Series UID`` -> ``File Location``);
- the four case-description CSVs in ``csv_dir`` (default ``ROOT``). Any subset of the four is
  accepted (e.g. a user with only the mass data): the files found are logged, a missing one is a
  logged warning, none at all is a :class:`~e2e_mammo.errors.DatasetError`. Every file present must
  be well-formed (comma-separated, not empty, all required columns).

Decisions (all problems other than the hard errors below become rows of ``exclusions.csv``, or
raise at the first one when ``strict=True``):

- **Unit = one scan** = one (patient, side, view). Normally that is one full image, named by the
  SubjectID of ``image file path`` (e.g. ``Mass-Training_P_00001_LEFT_CC``). The real CSVs list
  71 views under both a ``Mass-`` and a ``Calc-`` SubjectID: two DICOMs with different UIDs of
  the same scan (data-formats §1.1). Such a *dual-listed* view becomes **one** image:

  * its official set (``split``) is that of its listings when they agree; when one listing is in
    a train CSV and the other in a test CSV it is ``official_overlap`` (default ``test``): the
    rule :func:`~e2e_mammo.preprocess.splits.official_side`, which the official split also
    applies to patients found in both official sets;
  * the DICOM kept, whose SubjectID becomes the ``image_id``, is chosen in this order: a listing
    whose own official set is the view's; then the order of :data:`CSV_FILES` (mass train, mass
    test, calc train, calc test: the mass listing wins a tie). When that listing's full image is
    missing, ambiguous or unreadable, the next listing's DICOM is kept instead (same pixels);
  * its ROIs are the rows of all its listings, re-keyed to the kept ``image_id`` (``roi_id`` stays
    the ROI's own SubjectID); an abnormality id already taken by an earlier listing becomes the
    next free id after the image's highest (never needed on the real CSVs, which number the ROIs
    of one view across the two lists);
  * every other listing is a row of ``exclusions.csv``: item = its SubjectID, source = its DICOM,
    reason ``duplicate of <kept image_id> ...``. That row records the data, not a problem with
    it: it is written even with ``strict=True``.

- **Label** = 1 iff any CSV row of the image has pathology ``MALIGNANT`` (``BENIGN`` and
  ``BENIGN_WITHOUT_CALLBACK`` count 0; ``assessment`` is not used). It is computed from *all* CSV
  rows of the image, because pathology comes from the CSV, not from the ROI files. Consequently:

  * if a CSV row of an image is invalid (unknown pathology, missing value, malformed path, subject
    mismatch, conflicting duplicate), the whole image is excluded, since its label would otherwise
    rest on a subset of its rows (for a dual-listed view: every listing of the view);
  * an exact duplicate row is excluded and the image kept (the duplicate adds nothing);
  * if a ROI's *files* fail (folder missing, unreadable DICOM, no identifiable mask, mask without
    foreground), only that ROI is left out of ``rois.csv``; the image stays, labelled from all its
    rows (``n_rois`` vs ``n_rois_indexed`` in ``images.csv`` shows it). An image whose **every** ROI
    failed is excluded itself.
- **Files**: the ``000000.dcm``/``000001.dcm`` names in the CSV are ignored. The full image is
  the one ``.dcm`` of the series folder found via ``metadata.csv`` (when present and pointing at
  an existing folder) or else via the UIDs (folder named by the full UID, or ending in
  ``-<last 5 digits>``); a series with several ``.dcm`` files is excluded. For a ROI, *all*
  ``.dcm`` files under the ROI subject folder ``<image SubjectID>_<abnormality id>`` are
  collected (one 2-file series or two 1-file series) and told apart **by content**: headers
  first (``stop_before_pixels``), pixels only for mask candidates (8-bit files, or, failing
  those, large files): the mask is binary (values in ``{0, v}``), preferring the size closest
  to the full image; the crop is the remaining non-binary file. File names and series
  descriptions are never trusted. A ROI without a crop is kept (empty ``crop_path``, noted in
  the exclusions as ``<roi_id>:crop``).
- A mask whose size differs from its full image is kept; ``mask_rows``/``mask_cols``,
  ``image_rows``/``image_cols`` and ``mask_matches_image`` let later stages resize (and report).
- ``.dcm`` files under ``CBIS-DDSM/`` that no CSV row refers to are listed in ``exclusions.csv``.
- A truncated DICOM is detected from its size (fewer bytes after the header than its declared
  pixel data needs); an unreadable one (not DICOM, garbled header) is excluded naming the file.
- The tree is scanned once (``os.scandir`` + ``os.walk``); ``metadata.csv`` without the
  ``Series UID``/``File Location`` columns is ignored with a warning (the UID scan is exact anyway).

Hard errors (``DatasetError`` even when not strict): ROOT missing or without ``CBIS-DDSM/``; none
of the four description CSVs in ``csv_dir``; a present CSV that is empty, not comma-separated or
lacks a required column.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from e2e_mammo.datasets.index_common import (
    ExclusionLog,
    Header,
    IndexResult,
    dicom_folders,
    finish_index,
    is_missing,
    read_header,
    read_table,
    require_dataset_folder,
    same_values,
)
from e2e_mammo.errors import DatasetError
from e2e_mammo.preprocess.splits import check_official_sets, official_side

log = logging.getLogger(__name__)

DATASET = "cbis-ddsm"
TREE_DIR = "CBIS-DDSM"
METADATA_FILE = "metadata.csv"

#: file name -> (abnormality kind, official split, SubjectID prefix)
CSV_FILES: dict[str, tuple[str, str, str]] = {
    "mass_case_description_train_set.csv": ("mass", "train", "Mass-Training"),
    "mass_case_description_test_set.csv": ("mass", "test", "Mass-Test"),
    "calc_case_description_train_set.csv": ("calc", "train", "Calc-Training"),
    "calc_case_description_test_set.csv": ("calc", "test", "Calc-Test"),
}

#: normalised column names every description CSV must have
REQUIRED_COLUMNS = (
    "patient_id",
    "breast_density",
    "left_or_right_breast",
    "image_view",
    "abnormality_id",
    "abnormality_type",
    "pathology",
    "image_file_path",
    "cropped_image_file_path",
    "roi_mask_file_path",
)
OPTIONAL_COLUMNS = (
    "assessment",
    "subtlety",
    "mass_shape",
    "mass_margins",
    "calc_type",
    "calc_distribution",
)

#: pathology -> ROI label (Shen et al.: positive iff MALIGNANT)
PATHOLOGY_LABEL = {"MALIGNANT": 1, "BENIGN": 0, "BENIGN_WITHOUT_CALLBACK": 0}
SIDES = {"LEFT": "L", "RIGHT": "R"}

ROW_COLUMNS = [
    "source",
    "source_row",
    "split",
    "image_id",
    "roi_id",
    "patient_id",
    "laterality",
    "view",
    "abnormality_id",
    "abnormality_type",
    "pathology",
    "breast_density",
    *OPTIONAL_COLUMNS,
    "image_file_path",
    "cropped_image_file_path",
    "roi_mask_file_path",
    "image_study_uid",
    "image_series_uid",
    "expected_prefix",
]

IMAGE_COLUMNS = [
    "dataset",
    "image_id",
    "patient_id",
    "laterality",
    "view",
    "label",
    "split",
    "dicom_path",
    "abnormality_types",
    "pathologies",
    "breast_density",
    "n_rois",
    "n_rois_indexed",
    "image_rows",
    "image_cols",
    "source",
]

#: columns of :func:`aggregate_images`
AGGREGATE_COLUMNS = [
    "image_id",
    "patient_id",
    "laterality",
    "view",
    "split",
    "label",
    "abnormality_types",
    "pathologies",
    "breast_density",
    "n_rois",
    "source",
]

ROI_COLUMNS = [
    "image_id",
    "roi_id",
    "abnormality_id",
    "abnormality_type",
    "pathology",
    "label",
    "split",
    "mask_path",
    "crop_path",
    "mask_rows",
    "mask_cols",
    "image_rows",
    "image_cols",
    "mask_matches_image",
    "source",
]


# --------------------------------------------------------------------------------------------
# Description CSVs (pure: no DICOM tree needed)
# --------------------------------------------------------------------------------------------


def find_description_csvs(csv_dir: Path) -> list[Path]:
    """The description CSVs present in ``csv_dir`` (at least one, else :class:`DatasetError`)."""
    csv_dir = Path(csv_dir)
    if not csv_dir.is_dir():
        raise DatasetError(csv_dir, "folder for the CBIS-DDSM description CSVs does not exist")
    found = [csv_dir / name for name in CSV_FILES if (csv_dir / name).is_file()]
    if not found:
        raise DatasetError(
            csv_dir,
            "none of the CBIS-DDSM description CSVs found; expected at least one of "
            + ", ".join(CSV_FILES),
        )
    log.info("CBIS-DDSM description CSVs found: %s", ", ".join(p.name for p in found))
    missing = [name for name in CSV_FILES if not (csv_dir / name).is_file()]
    if missing:
        log.warning(
            "CBIS-DDSM description CSVs not found in %s (their images are not indexed): %s",
            csv_dir,
            ", ".join(missing),
        )
    return found


def _split_path(value: str) -> list[str]:
    """``'Subj/Study/Series/000000.dcm\\n'`` -> ``['Subj', 'Study', 'Series', '000000.dcm']``."""
    return [part for part in value.strip().replace("\\", "/").split("/") if part and part != "."]


def read_description_csv(path: Path) -> pd.DataFrame:
    """Read one description CSV into normalised ROI rows (see :func:`read_description_csvs`)."""
    path = Path(path)
    kind, split, prefix = CSV_FILES.get(path.name, ("", "", ""))
    if not split:
        split = "test" if "test" in path.name.lower() else "train"
    frame = read_table(path, REQUIRED_COLUMNS)
    out = pd.DataFrame(index=frame.index)
    out["source"] = str(path)
    out["source_row"] = frame["_row"].astype(int)
    out["split"] = split
    out["expected_prefix"] = prefix
    image_parts = frame["image_file_path"].map(_split_path)
    mask_parts = frame["roi_mask_file_path"].map(_split_path)
    out["image_id"] = image_parts.map(lambda p: p[0] if len(p) >= 3 else "")
    out["image_study_uid"] = image_parts.map(lambda p: p[1] if len(p) >= 3 else "")
    out["image_series_uid"] = image_parts.map(lambda p: p[2] if len(p) >= 3 else "")
    out["roi_id"] = mask_parts.map(lambda p: p[0] if len(p) >= 3 else "")
    out["patient_id"] = frame["patient_id"]
    side = frame["left_or_right_breast"].str.upper()
    out["laterality"] = side.map(lambda s: SIDES.get(s, s))
    out["view"] = frame["image_view"].str.upper()
    out["abnormality_id"] = frame["abnormality_id"]
    out["abnormality_type"] = frame["abnormality_type"].str.lower()
    out["pathology"] = frame["pathology"].str.upper()
    out["breast_density"] = frame["breast_density"]
    for column in OPTIONAL_COLUMNS:
        out[column] = frame[column] if column in frame.columns else ""
    for column in ("image_file_path", "cropped_image_file_path", "roi_mask_file_path"):
        out[column] = frame[column]
    # NA / N/A / empty -> missing (NaN), for every string column
    for column in out.columns:
        if column == "source_row":
            continue
        out[column] = out[column].where(~out[column].map(is_missing), None)
    return out[ROW_COLUMNS].reset_index(drop=True)


def read_description_csvs(csv_dir: Path) -> pd.DataFrame:
    """Read every description CSV present in ``csv_dir`` into one frame of normalised ROI rows.

    One row per CSV record, no row dropped. Columns (:data:`ROW_COLUMNS`): ``source`` (CSV path),
    ``source_row`` (1-based data record), ``split`` (``train``/``test`` from the file name),
    ``image_id`` (SubjectID of the image path), ``roi_id`` (SubjectID of the mask path),
    ``patient_id``, ``laterality`` (``L``/``R``; other values kept as written), ``view``,
    ``abnormality_id`` (text), ``abnormality_type``, ``pathology`` (upper case), ``breast_density``,
    the optional descriptors, the three stripped path columns, ``image_study_uid``,
    ``image_series_uid``, ``expected_prefix``. ``NA``, ``N/A`` and empty values are missing (NaN).

    Raises:
        DatasetError: no CSV found, or a CSV that is empty, not comma-separated or lacks a column.
    """
    frames = [read_description_csv(path) for path in find_description_csvs(Path(csv_dir))]
    return pd.concat(frames, ignore_index=True)


def aggregate_images(rows: pd.DataFrame) -> pd.DataFrame:
    """Aggregate ROI rows (from :func:`read_description_csvs`) to one row per full image.

    ``label`` is 1 iff any row of the image has pathology ``MALIGNANT``; rows with another,
    unknown pathology count 0 here (the indexer excludes such images before calling this).
    Columns: ``image_id``, ``patient_id``, ``laterality``, ``view``, ``split``, ``label``,
    ``abnormality_types`` (sorted, ``;``-joined), ``pathologies`` (per ROI in abnormality-id
    order, ``;``-joined), ``breast_density``, ``n_rois``, ``source``. Sorted by ``image_id``.
    """
    if rows.empty:
        return pd.DataFrame(columns=AGGREGATE_COLUMNS)
    work = rows.copy()
    work["_malignant"] = (work["pathology"] == "MALIGNANT").astype(int)
    work["_aid"] = pd.to_numeric(work["abnormality_id"], errors="coerce")
    work = work.sort_values(["image_id", "_aid", "source_row"])

    grouped = work.groupby("image_id", sort=True)
    firsts = grouped[["patient_id", "laterality", "view", "split", "breast_density"]].first()
    out = firsts.fillna("").astype(str)
    out["label"] = grouped["_malignant"].max().astype(int)
    out["abnormality_types"] = grouped["abnormality_type"].agg(
        lambda s: ";".join(sorted(set(s.dropna())))
    )
    out["pathologies"] = grouped["pathology"].agg(lambda s: ";".join(s.fillna("")))
    out["n_rois"] = grouped.size().astype(int)
    out["source"] = grouped["source"].agg(lambda s: ";".join(sorted(set(s))))
    out = out[[c for c in AGGREGATE_COLUMNS if c != "image_id"]]
    return out.reset_index()


# --------------------------------------------------------------------------------------------
# Views listed twice (pure: no DICOM tree needed)
# --------------------------------------------------------------------------------------------

#: columns of :func:`plan_listings`
LISTING_COLUMNS = ["image_id", "view_id", "official", "split", "rank", "kept_id"]


def view_id(image_id: str) -> str:
    """The scan a full-image SubjectID shows: ``Calc-Test_P_00016_LEFT_CC`` -> ``P_00016_LEFT_CC``.

    The same for the ``Mass-`` and ``Calc-`` listings of one view (the indexer checks that the
    SubjectID matches the row's patient, side and view).
    """
    return str(image_id).split("_", 1)[-1]


def _prefix_rank(image_id: str) -> int:
    """Position of the SubjectID prefix in :data:`CSV_FILES` (unknown prefixes last)."""
    prefixes = [prefix for _, _, prefix in CSV_FILES.values()]
    prefix = str(image_id).split("_", 1)[0]
    return prefixes.index(prefix) if prefix in prefixes else len(prefixes)


def plan_listings(rows: pd.DataFrame, official_overlap: str = "test") -> pd.DataFrame:
    """One row per full-image listing (SubjectID) of checked ROI rows: its view and the DICOM kept.

    Columns (:data:`LISTING_COLUMNS`): ``image_id`` (the listing's SubjectID), ``view_id``
    (:func:`view_id`), ``official`` (the listing's own set, from its CSV), ``split`` (the view's
    set: :func:`~e2e_mammo.preprocess.splits.official_side` of its listings), ``rank`` (0 = the
    preferred listing of the view, see the module docstring) and ``kept_id`` (the rank-0
    listing). Sorted by ``view_id`` and ``rank``.
    """
    listings = rows.drop_duplicates("image_id")[["image_id", "split"]].rename(
        columns={"split": "official"}
    )
    check_official_sets(official_overlap, listings["official"])
    listings["view_id"] = listings["image_id"].map(view_id)
    listings["split"] = listings["official"]
    dual = listings["view_id"].duplicated(keep=False)
    listings.loc[dual, "split"] = (
        listings[dual]
        .groupby("view_id")["official"]
        .transform(lambda sets: official_side(sets, official_overlap))
    )
    listings["_other_set"] = listings["official"] != listings["split"]
    listings["_prefix"] = listings["image_id"].map(_prefix_rank)
    listings = listings.sort_values(["view_id", "_other_set", "_prefix", "image_id"])
    listings["rank"] = listings.groupby("view_id").cumcount()
    listings["kept_id"] = listings.groupby("view_id")["image_id"].transform("first")
    return listings[LISTING_COLUMNS].reset_index(drop=True)


def merge_listings(rows: pd.DataFrame, listings: pd.DataFrame) -> pd.DataFrame:
    """Re-key checked ROI rows to the listing kept for their view.

    ``image_id`` becomes the row's ``kept_id`` and ``split`` the view's set; rows whose listing
    has no ``kept_id`` (empty) are dropped. Within an image the kept listing's rows come first,
    then the other listings' by ``rank``; an abnormality id already taken by an earlier listing
    becomes the next free id after the image's highest.
    """
    plan = listings.set_index("image_id")
    work = rows[rows["image_id"].map(plan["kept_id"]).fillna("") != ""].copy()
    if work.empty:
        return work.reset_index(drop=True)
    work["_listing"] = work["image_id"]
    work["image_id"] = work["_listing"].map(plan["kept_id"])
    work["split"] = work["_listing"].map(plan["split"])
    rank = work["_listing"].map(plan["rank"]).astype(int)
    work["_order"] = np.where(work["_listing"] == work["image_id"], 0, 1 + rank)
    work["_aid"] = pd.to_numeric(work["abnormality_id"])
    work = work.sort_values(["image_id", "_order", "_aid", "source_row"])
    merged = work.groupby("image_id")["_listing"].transform("nunique") > 1
    for _, group in work[merged].groupby("image_id"):
        work.loc[group.index, "abnormality_id"] = _unique_ids(group)
    return work.drop(columns=["_listing", "_order", "_aid"]).reset_index(drop=True)


def _unique_ids(group: pd.DataFrame) -> list[str]:
    """The abnormality ids of one image's rows (listing by listing, in row order), an id taken by
    an earlier listing moved to the next free id after the highest."""
    used: set[int] = set()
    out: list[str] = []
    for _, ids in group.groupby("_listing", sort=False)["_aid"]:
        taken = used | {int(a) for a in ids}
        for aid in (int(a) for a in ids):
            if aid in used:
                aid = max(taken) + 1
                taken.add(aid)
            out.append(str(aid))
        used = taken
    return out


# --------------------------------------------------------------------------------------------
# Row checks
# --------------------------------------------------------------------------------------------


def _row_problem(row: pd.Series) -> str | None:
    """Why a normalised CSV row cannot be used, or ``None``."""
    for column in (
        "patient_id",
        "laterality",
        "view",
        "abnormality_id",
        "pathology",
        "image_file_path",
        "roi_mask_file_path",
    ):
        if is_missing(row[column]):
            return f"missing value in column {column!r}"
    if row["pathology"] not in PATHOLOGY_LABEL:
        return (
            f"unknown pathology {row['pathology']!r} (expected one of {', '.join(PATHOLOGY_LABEL)})"
        )
    if row["laterality"] not in ("L", "R"):
        return f"unknown side {row['laterality']!r} (expected LEFT or RIGHT)"
    if not str(row["abnormality_id"]).isdigit():
        return f"abnormality id {row['abnormality_id']!r} is not a number"
    if is_missing(row["image_id"]) or is_missing(row["image_series_uid"]):
        return f"malformed image file path {row['image_file_path']!r}"
    if is_missing(row["roi_id"]):
        return f"malformed ROI mask file path {row['roi_mask_file_path']!r}"
    return _subject_problem(row)


def _subject_problem(row: pd.Series) -> str | None:
    """Why the SubjectIDs of a row's image and mask paths do not match the row, or ``None``."""
    side_word = "LEFT" if row["laterality"] == "L" else "RIGHT"
    tail = f"_{row['patient_id']}_{side_word}_{row['view']}"
    prefix = row["expected_prefix"]
    expected = f"{prefix}{tail}" if not is_missing(prefix) else None
    if (expected and row["image_id"] != expected) or not str(row["image_id"]).endswith(tail):
        return (
            f"image path subject {row['image_id']!r} does not match the row "
            f"(expected {expected or '<prefix>' + tail!r})"
        )
    expected_roi = f"{row['image_id']}_{int(row['abnormality_id'])}"
    if row["roi_id"] != expected_roi:
        return f"ROI mask path subject {row['roi_id']!r} does not match {expected_roi!r}"
    return None


def _check_rows(rows: pd.DataFrame, xlog: ExclusionLog) -> pd.DataFrame:
    """Drop invalid and duplicate rows (recording why) and every row of an image with a bad row.

    A bad row also takes out the other listing of a dual-listed view (same :func:`view_id`).
    """
    bad_images: dict[str, str] = {}
    keep = []
    seen: dict[tuple[str, int], pd.Series] = {}
    for index, row in rows.iterrows():
        problem, exact = _row_problem(row), False
        if problem is None:
            problem, exact = _duplicate_problem(row, seen)
        if problem is None:
            seen[(row["image_id"], int(row["abnormality_id"]))] = row
            keep.append(index)
            continue
        item = row["roi_id"] if not is_missing(row["roi_id"]) else f"row {row['source_row']}"
        xlog.exclude(item, row["source"], problem, row=int(row["source_row"]))
        if not exact and not is_missing(row["image_id"]):
            where = f"{row['source']} row {row['source_row']}: {problem}"
            bad_images.setdefault(row["image_id"], where)
    good = rows.loc[keep]
    bad_images.update(_same_view_listings(good, bad_images))
    for image_id, why in sorted(bad_images.items()):
        _exclude_image_rows(image_id, why, good[good["image_id"] == image_id], xlog)
    return good[~good["image_id"].isin(bad_images)]


def _duplicate_problem(
    row: pd.Series, seen: dict[tuple[str, int], pd.Series]
) -> tuple[str | None, bool]:
    """(problem, whether the row is an exact duplicate) for a row whose ROI was seen before;
    ``(None, False)`` for a new ROI. An exact duplicate leaves its image usable."""
    first = seen.get((row["image_id"], int(row["abnormality_id"])))
    if first is None:
        return None, False
    if same_values(first, row, [c for c in ROW_COLUMNS if c != "source_row"]):
        return f"duplicate of row {first['source_row']}", True
    return f"conflicting duplicate of row {first['source_row']} for the same ROI", False


def _same_view_listings(rows: pd.DataFrame, bad_images: dict[str, str]) -> dict[str, str]:
    """The other listings (in ``rows``) of the views of ``bad_images``, with the reason."""
    bad_views = {view_id(i): i for i in bad_images}
    out = {}
    for image_id in rows["image_id"].unique():
        culprit = bad_views.get(view_id(image_id))
        if culprit is not None and image_id not in bad_images:
            out[image_id] = f"{bad_images[culprit]} (listed as {culprit}, the same view)"
    return out


def _exclude_image_rows(image_id: str, why: str, rows: pd.DataFrame, xlog: ExclusionLog) -> None:
    """Exclude an image with a bad CSV row, and its remaining rows."""
    source = rows["source"].iloc[0] if len(rows) else why.split(" row ")[0]
    xlog.exclude(
        image_id,
        source,
        f"image excluded: one of its CSV rows is unusable ({why}); its label would rest on "
        "a subset of its ROIs",
    )
    _drop_rois(rows, "ROI excluded with its image (another row of the image is unusable)", xlog)


def _drop_rois(rows: pd.DataFrame, reason: str, xlog: ExclusionLog) -> None:
    """Exclude the ROI of every row, each named by its CSV row."""
    for _, row in rows.iterrows():
        xlog.exclude(row["roi_id"], row["source"], reason, row=int(row["source_row"]))


# --------------------------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------------------------

Tree = dict[str, dict[tuple[str, ...], list[str]]]


def _scan_tree(base: Path) -> Tree:
    """One walk of ``CBIS-DDSM/``: subject -> {folder parts below it: sorted .dcm paths}."""
    with os.scandir(base) as entries:
        subjects = sorted(e.name for e in entries if e.is_dir())
    return {subject: dicom_folders(base / subject) for subject in subjects}


def _read_metadata(root: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``Series UID`` -> (subject, folder parts below the subject) from ``metadata.csv``, if any."""
    path = root / METADATA_FILE
    if not path.is_file():
        log.info("no %s in %s: locating series by their UIDs", METADATA_FILE, root)
        return {}
    try:
        frame = read_table(path, ("series_uid", "file_location"))
    except DatasetError as exc:
        log.warning("ignoring %s, locating series by their UIDs instead: %s", path, exc)
        return {}
    mapping: dict[str, tuple[str, tuple[str, ...]]] = {}
    for uid, location in zip(frame["series_uid"], frame["file_location"], strict=True):
        parts = _split_path(location)
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


# --------------------------------------------------------------------------------------------
# Full images: one DICOM per view
# --------------------------------------------------------------------------------------------


@dataclass
class _FullImage:
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
) -> _FullImage:
    """Locate and read the header of the full image of one listing (``first``: its first row)."""
    files, how = _series_files(
        tree, metadata, first["image_id"], first["image_study_uid"], first["image_series_uid"]
    )
    if not files:
        return _FullImage(
            problem=f"full image missing: {how}",
            kind="full image missing",
            where=first["source"],
            row=int(first["source_row"]),
        )
    if len(files) > 1:
        names = ", ".join(os.path.basename(f) for f in files)
        return _FullImage(
            files,
            problem=f"{len(files)} DICOM files in the full-image series (expected 1): {names}",
            kind="ambiguous full image",
            where=os.path.dirname(files[0]),
        )
    try:
        header = read_header(files[0])
    except ValueError as exc:
        return _FullImage(
            files, problem=f"full image: {exc}", kind="unreadable full image", where=files[0]
        )
    log.debug("%s: full image via %s", first["image_id"], how)
    return _FullImage(files, path=files[0], header=header)


def _choose_full_images(
    listings: pd.DataFrame,
    rows: pd.DataFrame,
    tree: Tree,
    metadata: dict[str, tuple[str, tuple[str, ...]]],
    xlog: ExclusionLog,
) -> tuple[pd.DataFrame, dict[str, _FullImage], set[str]]:
    """Keep one usable DICOM per view, trying its listings in ``rank`` order.

    Returns the listings with ``kept_id`` set to the listing kept (empty when none is usable),
    kept ``image_id`` -> its full image, and every full-image file the listings refer to.
    """
    first_rows = rows.sort_values("source_row").drop_duplicates("image_id")
    first_rows = first_rows.set_index("image_id", drop=False)
    rows_by_image = dict(tuple(rows.groupby("image_id")))
    kept_ids: dict[str, str] = {}
    chosen: dict[str, _FullImage] = {}
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
    found: dict[str, _FullImage],
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
            _drop_rois(rows_by_image[image_id], f"ROI excluded with its image ({image.kind})", xlog)
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


# --------------------------------------------------------------------------------------------
# ROI files: mask vs crop by content
# --------------------------------------------------------------------------------------------


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
            headers[path] = read_header(path)
        except ValueError as exc:
            xlog.exclude(roi_id, path, f"ROI file: {exc}")
    return headers


def _index_roi(
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


# --------------------------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------------------------


def _index_images(
    merged: pd.DataFrame, full: dict[str, _FullImage], tree: Tree, xlog: ExclusionLog
) -> tuple[list[dict], list[dict]]:
    """images.csv and rois.csv records of the merged rows (one image per kept listing)."""
    info = aggregate_images(merged).set_index("image_id")
    images: list[dict] = []
    rois: list[dict] = []
    for image_id, image_rows in merged.groupby("image_id", sort=True):
        image = full[image_id]
        assert image.header is not None
        shape = (image.header.rows, image.header.cols)
        records, failures = [], []
        for _, row in image_rows.iterrows():
            record, why = _index_roi(row, tree, shape, xlog)
            if record is None:
                failures.append(f"{row['roi_id']}: {why}")
            else:
                records.append(record)
        if not records:
            first = image_rows.iloc[0]
            reason = "image excluded: none of its ROIs is usable (" + "; ".join(failures) + ")"
            xlog.exclude(image_id, first["source"], reason, row=int(first["source_row"]))
            continue
        common = {"image_id": image_id, "split": info.loc[image_id, "split"]}
        rois.extend(
            {**r, **common, "image_rows": shape[0], "image_cols": shape[1]} for r in records
        )
        images.append(_image_record(image_id, info.loc[image_id], image, len(records)))
    return images, rois


def _image_record(image_id: str, info: pd.Series, image: _FullImage, indexed: int) -> dict:
    """The images.csv record of one image (``info``: its row of :func:`aggregate_images`)."""
    assert image.header is not None
    return {
        "dataset": DATASET,
        "image_id": image_id,
        "patient_id": info["patient_id"],
        "laterality": info["laterality"],
        "view": info["view"],
        "label": int(info["label"]),
        "split": info["split"],
        "dicom_path": image.path,
        "abnormality_types": info["abnormality_types"],
        "pathologies": info["pathologies"],
        "breast_density": info["breast_density"],
        "n_rois": int(info["n_rois"]),
        "n_rois_indexed": indexed,
        "image_rows": image.header.rows,
        "image_cols": image.header.cols,
        "source": info["source"],
    }


def _subject_files(tree: Tree, subjects: set[str]) -> set[str]:
    """Every .dcm file under the subject folders ``subjects`` (names not in the tree ignored)."""
    return {f for s in subjects for files in tree.get(s, {}).values() for f in files}


def _exclude_unreferenced(tree: Tree, claimed: set[str], xlog: ExclusionLog) -> None:
    """List every .dcm file under ``CBIS-DDSM/`` that is not in ``claimed``: files of subjects no
    CSV row names, and files of a full-image subject outside the series its row points at."""
    for subject, dirs in tree.items():
        for files in dirs.values():
            for path in files:
                if path not in claimed:
                    xlog.exclude(subject, path, "DICOM file that no description CSV row refers to")


def index_cbis_ddsm(
    root: Path,
    out: Path,
    csv_dir: Path | None = None,
    strict: bool = False,
    official_overlap: str = "test",
) -> IndexResult:
    """Index a CBIS-DDSM download into ``OUT/images.csv``, ``rois.csv`` and ``exclusions.csv``.

    Args:
        root: folder holding ``CBIS-DDSM/`` (and ``metadata.csv`` when present).
        out: output folder (created if missing).
        csv_dir: folder of the description CSVs (default ``root``).
        strict: raise :class:`DatasetError` at the first problem instead of excluding.
        official_overlap: official set (``train``/``test``) of a view listed in both
            (``split.cbis_ddsm.official_overlap`` in params.yaml).

    Returns:
        :class:`IndexResult` with ``images`` (:data:`IMAGE_COLUMNS`), ``rois``
        (:data:`ROI_COLUMNS`) and the exclusions. See the module docstring for the rules.
    """
    root, out = Path(root), Path(out)
    base = require_dataset_folder(
        root,
        TREE_DIR,
        "CBIS-DDSM",
        f"not a CBIS-DDSM download: expected a folder {TREE_DIR}/ (holding one folder per "
        "SubjectID) inside this folder",
    )
    xlog = ExclusionLog(strict)
    described = read_description_csvs(root if csv_dir is None else Path(csv_dir))
    rows = _check_rows(described, xlog)
    listings = plan_listings(rows, official_overlap)
    tree = _scan_tree(base)
    listings, full, claimed = _choose_full_images(listings, rows, tree, _read_metadata(root), xlog)
    images, rois = _index_images(merge_listings(rows, listings), full, tree, xlog)
    unusable = set(described["image_id"]) - set(rows["image_id"])
    claimed |= _subject_files(tree, {*described["roi_id"], *unusable})
    _exclude_unreferenced(tree, claimed, xlog)
    roi_frame = pd.DataFrame(rois, columns=ROI_COLUMNS)
    roi_frame = roi_frame.sort_values(["image_id", "abnormality_id"]).reset_index(drop=True)
    return finish_index(
        out, pd.DataFrame(images, columns=IMAGE_COLUMNS), roi_frame, xlog, "CBIS-DDSM"
    )


__all__ = [
    "CSV_FILES",
    "IMAGE_COLUMNS",
    "LISTING_COLUMNS",
    "REQUIRED_COLUMNS",
    "ROI_COLUMNS",
    "ROW_COLUMNS",
    "IndexResult",
    "aggregate_images",
    "find_description_csvs",
    "index_cbis_ddsm",
    "merge_listings",
    "plan_listings",
    "read_description_csv",
    "read_description_csvs",
    "view_id",
]
