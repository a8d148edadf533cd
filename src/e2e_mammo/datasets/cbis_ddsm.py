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

- **Unit = full image** = the SubjectID of ``image file path``
  (e.g. ``Mass-Training_P_00001_LEFT_CC``).
  The same view listed under both a ``Mass-`` and a ``Calc-`` prefix is two separate DICOMs with two
  SubjectIDs (data-formats §1.1): both are kept as separate images (71 such pairs in the full data;
  group by ``patient_id`` for patient-level splits).
- **Label** = 1 iff any CSV row of the image has pathology ``MALIGNANT`` (``BENIGN`` and
  ``BENIGN_WITHOUT_CALLBACK`` count 0; ``assessment`` is not used). It is computed from *all* CSV
  rows of the image, because pathology comes from the CSV, not from the ROI files. Consequently:

  * if a CSV row of an image is invalid (unknown pathology, missing value, malformed path, subject
    mismatch, conflicting duplicate), the whole image is excluded, since its label would otherwise
    rest on a subset of its rows;
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
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from e2e_mammo.datasets.index_common import (
    ExclusionLog,
    Header,
    IndexResult,
    is_missing,
    read_header,
    read_table,
    write_outputs,
)
from e2e_mammo.errors import DatasetError

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
        return pd.DataFrame(
            columns=[
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
        )
    work = rows.copy()
    work["_malignant"] = (work["pathology"] == "MALIGNANT").astype(int)
    work["_aid"] = pd.to_numeric(work["abnormality_id"], errors="coerce")
    work = work.sort_values(["image_id", "_aid", "source_row"])

    def first(series: pd.Series) -> str:
        values = series.dropna()
        return str(values.iloc[0]) if len(values) else ""

    grouped = work.groupby("image_id", sort=True)
    out = pd.DataFrame(
        {
            "patient_id": grouped["patient_id"].agg(first),
            "laterality": grouped["laterality"].agg(first),
            "view": grouped["view"].agg(first),
            "split": grouped["split"].agg(first),
            "label": grouped["_malignant"].max().astype(int),
            "abnormality_types": grouped["abnormality_type"].agg(
                lambda s: ";".join(sorted(set(s.dropna())))
            ),
            "pathologies": grouped["pathology"].agg(lambda s: ";".join(s.fillna(""))),
            "breast_density": grouped["breast_density"].agg(first),
            "n_rois": grouped.size().astype(int),
            "source": grouped["source"].agg(lambda s: ";".join(sorted(set(s)))),
        }
    )
    return out.reset_index()


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
    """Drop invalid and duplicate rows (recording why) and every row of an image with a bad row."""
    bad_images: dict[str, str] = {}
    keep = []
    seen: dict[tuple[str, int], pd.Series] = {}
    content = [c for c in ROW_COLUMNS if c != "source_row"]
    for index, row in rows.iterrows():
        item = row["roi_id"] if not is_missing(row["roi_id"]) else f"row {row['source_row']}"
        problem = _row_problem(row)
        if problem is not None:
            xlog.exclude(item, row["source"], problem, row=int(row["source_row"]))
            if not is_missing(row["image_id"]):
                bad_images.setdefault(
                    row["image_id"], f"{row['source']} row {row['source_row']}: {problem}"
                )
            continue
        key = (row["image_id"], int(row["abnormality_id"]))
        if key in seen:
            first = seen[key]
            same = all(
                (is_missing(first[c]) and is_missing(row[c])) or first[c] == row[c] for c in content
            )
            if same:
                xlog.exclude(
                    item,
                    row["source"],
                    f"duplicate of row {first['source_row']}",
                    row=int(row["source_row"]),
                )
                continue
            problem = f"conflicting duplicate of row {first['source_row']} for the same ROI"
            xlog.exclude(item, row["source"], problem, row=int(row["source_row"]))
            bad_images.setdefault(
                row["image_id"], f"{row['source']} row {row['source_row']}: {problem}"
            )
            continue
        seen[key] = row
        keep.append(index)
    good = rows.loc[keep]
    for image_id, why in sorted(bad_images.items()):
        image_rows = good[good["image_id"] == image_id]
        source = image_rows["source"].iloc[0] if len(image_rows) else why.split(" row ")[0]
        xlog.exclude(
            image_id,
            source,
            f"image excluded: one of its CSV rows is unusable ({why}); its label would rest on "
            "a subset of its ROIs",
        )
        for _, row in image_rows.iterrows():
            xlog.exclude(
                row["roi_id"],
                row["source"],
                "ROI excluded with its image (another row of the image is unusable)",
                row=int(row["source_row"]),
            )
    return good[~good["image_id"].isin(bad_images)]


# --------------------------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------------------------

Tree = dict[str, dict[tuple[str, ...], list[str]]]


def _scan_tree(base: Path) -> Tree:
    """One walk of ``CBIS-DDSM/``: subject -> {folder parts below it: sorted .dcm paths}."""
    tree: Tree = {}
    with os.scandir(base) as entries:
        subjects = sorted(e.name for e in entries if e.is_dir())
    for subject in subjects:
        top = base / subject
        dirs: dict[tuple[str, ...], list[str]] = {}
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            dcms = sorted(f for f in filenames if f.lower().endswith(".dcm"))
            if dcms:
                parts = Path(dirpath).relative_to(top).parts
                dirs[parts] = [os.path.join(dirpath, f) for f in dcms]
        tree[subject] = dirs
    return tree


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


def _classify_roi(
    headers: dict[str, Header], image_shape: tuple[int, int] | None
) -> tuple[str | None, str | None, str | None, list[tuple[str, str]]]:
    """Tell mask from crop by content.

    Returns:
        (mask path, crop path, problem, file problems). ``problem`` is why no usable mask was
        found (``None`` when the mask is fine). ``file problems`` are (path, reason) for files that
        could not be read or were not used.
    """
    file_problems: list[tuple[str, str]] = []
    checked: dict[str, tuple[bool, bool]] = {}

    def check(path: str) -> None:
        try:
            checked[path] = _binary_pixels(path)
        except Exception as exc:  # corrupt pixel data
            file_problems.append((path, f"unreadable pixel data ({type(exc).__name__}: {exc})"))

    image_area = image_shape[0] * image_shape[1] if image_shape else None
    for path, header in headers.items():
        if header.bits_allocated <= 8:
            check(path)
    if not any(binary for binary, _ in checked.values()):
        # no 8-bit binary file: try large 16-bit files (a mask stored on 16 bits)
        for path, header in headers.items():
            large = image_area is None or header.rows * header.cols >= 0.25 * image_area
            if path not in checked and large and header.bits_allocated > 8:
                check(path)
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
    rest = [p for p in headers if p != mask and p not in candidates[1:]]
    for extra in candidates[1:]:
        file_problems.append((extra, "second mask-like file in the ROI folder; not used"))
    crops = [p for p in rest if not checked.get(p, (False, False))[0]]
    crop = None
    if len(crops) == 1:
        crop = crops[0]
    elif crops:
        crop = min(crops, key=lambda p: headers[p].rows * headers[p].cols)
        for extra in crops:
            if extra != crop:
                file_problems.append((extra, "extra file in the ROI folder; not used"))
    if not checked[mask][1]:
        return mask, crop, "mask has no foreground (all pixels 0)", file_problems
    return mask, crop, None, file_problems


# --------------------------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------------------------


def index_cbis_ddsm(
    root: Path, out: Path, csv_dir: Path | None = None, strict: bool = False
) -> IndexResult:
    """Index a CBIS-DDSM download into ``OUT/images.csv``, ``rois.csv`` and ``exclusions.csv``.

    Args:
        root: folder holding ``CBIS-DDSM/`` (and ``metadata.csv`` when present).
        out: output folder (created if missing).
        csv_dir: folder of the description CSVs (default ``root``).
        strict: raise :class:`DatasetError` at the first problem instead of excluding.

    Returns:
        :class:`IndexResult` with ``images`` (:data:`IMAGE_COLUMNS`), ``rois``
        (:data:`ROI_COLUMNS`) and the exclusions. See the module docstring for the rules.
    """
    root = Path(root)
    out = Path(out)
    if not root.is_dir():
        raise DatasetError(root, "CBIS-DDSM root folder does not exist")
    base = root / TREE_DIR
    if not base.is_dir():
        raise DatasetError(
            root,
            f"not a CBIS-DDSM download: expected a folder {TREE_DIR}/ (holding one folder per "
            "SubjectID) inside this folder",
        )
    csv_dir = root if csv_dir is None else Path(csv_dir)
    rows = read_description_csvs(csv_dir)
    xlog = ExclusionLog(strict)
    rows = _check_rows(rows, xlog)

    metadata = _read_metadata(root)
    tree = _scan_tree(base)
    claimed: set[str] = set()
    image_info = aggregate_images(rows).set_index("image_id")
    rows_by_image = {k: g for k, g in rows.groupby("image_id", sort=True)}

    image_records = []
    roi_records = []
    for image_id, info in image_info.iterrows():
        image_rows = rows_by_image[image_id].sort_values("source_row")
        first = image_rows.iloc[0]
        source, source_row = first["source"], int(first["source_row"])
        for _, row in image_rows.iterrows():
            claimed.update(f for files in tree.get(row["roi_id"], {}).values() for f in files)
        files, how = _series_files(
            tree, metadata, image_id, first["image_study_uid"], first["image_series_uid"]
        )
        claimed.update(files)

        def drop_rois(reason: str, image_rows: pd.DataFrame = image_rows) -> None:
            for _, row in image_rows.iterrows():
                xlog.exclude(row["roi_id"], row["source"], reason, row=int(row["source_row"]))

        if not files:
            xlog.exclude(image_id, source, f"full image missing: {how}", row=source_row)
            drop_rois("ROI excluded with its image (full image missing)")
            continue
        if len(files) > 1:
            xlog.exclude(
                image_id,
                os.path.dirname(files[0]),
                f"{len(files)} DICOM files in the full-image series (expected 1): "
                + ", ".join(os.path.basename(f) for f in files),
            )
            drop_rois("ROI excluded with its image (ambiguous full image)")
            continue
        dicom_path = files[0]
        try:
            header = read_header(dicom_path)
        except ValueError as exc:
            xlog.exclude(image_id, dicom_path, f"full image: {exc}")
            drop_rois("ROI excluded with its image (unreadable full image)")
            continue
        image_shape = (header.rows, header.cols)

        indexed = 0
        roi_failures = []
        for _, row in image_rows.iterrows():
            record, why = _index_roi(row, tree, image_shape, xlog)
            if record is None:
                roi_failures.append(f"{row['roi_id']}: {why}")
                continue
            record.update(
                image_id=image_id,
                image_rows=header.rows,
                image_cols=header.cols,
                split=info["split"],
            )
            roi_records.append(record)
            indexed += 1
        if indexed == 0:
            xlog.exclude(
                image_id,
                source,
                "image excluded: none of its ROIs is usable (" + "; ".join(roi_failures) + ")",
                row=source_row,
            )
            continue
        image_records.append(
            {
                "dataset": DATASET,
                "image_id": image_id,
                "patient_id": info["patient_id"],
                "laterality": info["laterality"],
                "view": info["view"],
                "label": int(info["label"]),
                "split": info["split"],
                "dicom_path": dicom_path,
                "abnormality_types": info["abnormality_types"],
                "pathologies": info["pathologies"],
                "breast_density": info["breast_density"],
                "n_rois": int(info["n_rois"]),
                "n_rois_indexed": indexed,
                "image_rows": header.rows,
                "image_cols": header.cols,
                "source": info["source"],
            }
        )
        log.debug("%s: full image via %s", image_id, how)

    for subject, dirs in tree.items():
        for files in dirs.values():
            for path in files:
                if path not in claimed:
                    xlog.exclude(subject, path, "DICOM file that no description CSV row refers to")

    images = pd.DataFrame(image_records, columns=IMAGE_COLUMNS)
    images = images.sort_values("image_id").reset_index(drop=True)
    rois = pd.DataFrame(roi_records, columns=ROI_COLUMNS)
    rois = rois.sort_values(["image_id", "abnormality_id"]).reset_index(drop=True)
    write_outputs(out, images, rois, xlog.items)
    log.info(
        "CBIS-DDSM index: %d images (%d malignant), %d ROIs, %d exclusions -> %s",
        len(images),
        int(images["label"].sum()) if len(images) else 0,
        len(rois),
        len(xlog.items),
        out,
    )
    return IndexResult(images=images, rois=rois, exclusions=list(xlog.items))


def _index_roi(
    row: pd.Series, tree: Tree, image_shape: tuple[int, int], xlog: ExclusionLog
) -> tuple[dict | None, str]:
    """Find and classify the files of one ROI row; record exclusions; return the rois.csv record."""
    roi_id = row["roi_id"]
    dirs = tree.get(roi_id)
    files = [f for group in (dirs or {}).values() for f in group]
    if not files:
        why = f"ROI files missing: no .dcm files under {TREE_DIR}/{roi_id}"
        xlog.exclude(roi_id, row["source"], why, row=int(row["source_row"]))
        return None, why
    headers: dict[str, Header] = {}
    for path in files:
        try:
            headers[path] = read_header(path)
        except ValueError as exc:
            xlog.exclude(roi_id, path, f"ROI file: {exc}")
    if not headers:
        why = "no readable DICOM file in the ROI folder"
        xlog.exclude(roi_id, row["source"], why, row=int(row["source_row"]))
        return None, why
    mask, crop, problem, file_problems = _classify_roi(headers, image_shape)
    for path, reason in file_problems:
        xlog.exclude(roi_id, path, f"ROI file: {reason}")
    if problem is not None:
        where = mask or os.path.join(os.path.dirname(files[0]))
        xlog.exclude(roi_id, where, problem)
        return None, problem
    assert mask is not None
    if crop is None:
        xlog.exclude(
            f"{roi_id}:crop",
            os.path.dirname(mask),
            "no cropped image found next to the mask; ROI kept with an empty crop_path",
        )
    mask_header = headers[mask]
    matches = (mask_header.rows, mask_header.cols) == image_shape
    if not matches:
        log.info(
            "%s: mask %dx%d differs from its image %dx%d (kept)",
            roi_id,
            mask_header.rows,
            mask_header.cols,
            *image_shape,
        )
    return {
        "roi_id": roi_id,
        "abnormality_id": int(row["abnormality_id"]),
        "abnormality_type": row["abnormality_type"]
        if not is_missing(row["abnormality_type"])
        else "",
        "pathology": row["pathology"],
        "label": PATHOLOGY_LABEL[row["pathology"]],
        "mask_path": mask,
        "crop_path": crop or "",
        "mask_rows": mask_header.rows,
        "mask_cols": mask_header.cols,
        "mask_matches_image": bool(matches),
        "source": f"{row['source']}:{row['source_row']}",
    }, ""


__all__ = [
    "CSV_FILES",
    "IMAGE_COLUMNS",
    "REQUIRED_COLUMNS",
    "ROI_COLUMNS",
    "ROW_COLUMNS",
    "IndexResult",
    "aggregate_images",
    "find_description_csvs",
    "index_cbis_ddsm",
    "read_description_csv",
    "read_description_csvs",
]
