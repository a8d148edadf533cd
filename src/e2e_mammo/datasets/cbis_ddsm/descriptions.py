"""The CBIS-DDSM case-description CSVs: their files and columns, reading them, one record per
image, and the checks of each row (pure: no DICOM tree needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from e2e_mammo.datasets.indexing import (
    IMAGE_KEY_COLUMNS,
    ExclusionLog,
    is_missing,
    read_dataset_csv,
    same_values,
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
    *IMAGE_KEY_COLUMNS,
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


def split_path(value: str) -> list[str]:
    """``'Subj/Study/Series/000000.dcm\\n'`` -> ``['Subj', 'Study', 'Series', '000000.dcm']``."""
    return [part for part in value.strip().replace("\\", "/").split("/") if part and part != "."]


def read_description_csv(path: Path) -> pd.DataFrame:
    """Read one description CSV into normalised ROI rows (see :func:`read_description_csvs`)."""
    path = Path(path)
    kind, split, prefix = CSV_FILES.get(path.name, ("", "", ""))
    if not split:
        split = "test" if "test" in path.name.lower() else "train"
    frame = read_dataset_csv(path, REQUIRED_COLUMNS)
    out = pd.DataFrame(index=frame.index)
    out["source"] = str(path)
    out["source_row"] = frame["_row"].astype(int)
    out["split"] = split
    out["expected_prefix"] = prefix
    image_parts = frame["image_file_path"].map(split_path)
    mask_parts = frame["roi_mask_file_path"].map(split_path)
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


def view_id(image_id: str) -> str:
    """The scan a full-image SubjectID shows: ``Calc-Test_P_00016_LEFT_CC`` -> ``P_00016_LEFT_CC``.

    The same for the ``Mass-`` and ``Calc-`` listings of one view (the indexer checks that the
    SubjectID matches the row's patient, side and view).
    """
    return str(image_id).split("_", 1)[-1]


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


def check_rows(rows: pd.DataFrame, xlog: ExclusionLog) -> pd.DataFrame:
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
    drop_rois(rows, "ROI excluded with its image (another row of the image is unusable)", xlog)


def drop_rois(rows: pd.DataFrame, reason: str, xlog: ExclusionLog) -> None:
    """Exclude the ROI of every row, each named by its CSV row."""
    for _, row in rows.iterrows():
        xlog.exclude(row["roi_id"], row["source"], reason, row=int(row["source_row"]))
