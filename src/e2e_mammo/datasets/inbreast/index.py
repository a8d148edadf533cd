"""Index a real INbreast Release 1.0 folder into ``images.csv`` (``docs/data-formats.md`` §2).

Input: ``ROOT/AllDICOMs/*.dcm``, ``ROOT/INbreast.csv`` and optionally
``ROOT/AllXML/<File Name>.xml``.

Decisions:

- DICOM file names must match :data:`FILE_NAME_RE`
  (``<8-digit File Name>_<16-hex patient hash>_MG_<L|R>_<VIEW>_ANON.dcm``); others are excluded
  (reason: name pattern). ``.dcm`` files are found anywhere below ``AllDICOMs/`` (one scan).
- ``patient_id`` is the 16-hex hash from the file name (the CSV's Patient ID is ``removed``).
- ``image_id`` is the 8-digit File Name (text; read ``images.csv`` back with ``dtype=str``).
- ``INbreast.csv`` is read as ``;``-separated (a ``,``- or tab-separated re-save is also accepted);
  values are stripped, so the whitespace-only ACR becomes missing (empty ``acr``). ``File Name``
  values like ``22678622.0`` (an XLS re-export) are accepted.
- The CSV row and the file name are joined on File Name. The side and view must agree
  (file-name ``ML`` means ``MLO``); a mismatch is excluded. A CSV row without a DICOM and a DICOM
  without a CSV row are both excluded. Repeated File Names (in the CSV or among the DICOMs) are
  excluded, except exact duplicate CSV rows, of which the first is kept.
- ``label`` from ``Bi-Rads`` (first character; ``4a/4b/4c`` -> 4): 1-2 -> 0, 4-6 -> 1;
  BI-RADS 3 is excluded (Shen et al. 2019), as is any other value.
- ``split`` is empty: INbreast has no official split (split by patient hash later).
- ``view`` and ``laterality`` come from the CSV (``MLO``, ``CC``, ``FB``...).
- Each DICOM header is read (``stop_before_pixels``) to reject unreadable/truncated files and to
  record ``image_rows``/``image_cols``.

Hard errors (``DatasetError`` even when not strict): ROOT missing, no ``AllDICOMs/`` folder, no
``INbreast.csv``, an empty CSV, a CSV with a missing column or that is not ``;``-separated.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pandas as pd

from e2e_mammo.datasets.indexing import (
    IMAGE_KEY_COLUMNS,
    ExclusionLog,
    IndexResult,
    dicom_folders,
    finish_index,
    is_missing,
    read_dataset_csv,
    read_file_header,
    require_dataset_folder,
    same_values,
)
from e2e_mammo.errors import DatasetError

log = logging.getLogger(__name__)

DATASET = "inbreast"
DICOM_DIR = "AllDICOMs"
XML_DIR = "AllXML"
CSV_NAME = "INbreast.csv"

FILE_NAME_RE = re.compile(
    r"^(?P<file_name>\d{8})_(?P<patient>[0-9a-f]{16})_MG_(?P<side>[LR])_(?P<view>[A-Z]+)_ANON\.dcm$"
)
#: file-name view token -> CSV view
VIEW_TOKENS = {"ML": "MLO"}
REQUIRED_COLUMNS = ("laterality", "view", "file_name", "bi_rads")

CSV_COLUMNS = [
    "file_name",
    "source_row",
    "laterality",
    "view",
    "acquisition_date",
    "acr",
    "birads",
    "label",
]

IMAGE_COLUMNS = [
    *IMAGE_KEY_COLUMNS,
    "birads",
    "acr",
    "acquisition_date",
    "xml_path",
    "image_rows",
    "image_cols",
    "source",
]


def birads_label(value: str) -> int | None:
    """Shen et al.'s INbreast label from a BI-RADS string.

    Returns:
        0 for BI-RADS 1-2, 1 for 4-6 (including ``4a``/``4b``/``4c``), ``None`` for 3.

    Raises:
        ValueError: a value that is not a BI-RADS category 1-6.
    """
    text = str(value).strip().lower()
    if not re.fullmatch(r"[1-6]([abc])?", text) or (len(text) == 2 and text[0] != "4"):
        raise ValueError(f"unknown BI-RADS value {value!r} (expected 1, 2, 3, 4a/4b/4c, 5 or 6)")
    category = int(text[0])
    if category == 3:
        return None
    return 0 if category <= 2 else 1


def _normalise_file_name(value: str) -> str:
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".", 1)[0]
    return text


def read_inbreast_csv(path: Path) -> pd.DataFrame:
    """Read ``INbreast.csv`` into one row per record, nothing dropped (pure; no DICOMs needed).

    Columns (:data:`CSV_COLUMNS`): ``file_name`` (text), ``source_row`` (1-based data record),
    ``laterality``, ``view`` (upper case, as written), ``acquisition_date``, ``acr`` (stripped;
    missing -> NaN), ``birads`` (stripped, lower case, e.g. ``4a``), ``label`` (nullable Int64: 0,
    1, or missing for BI-RADS 3 and unknown values).

    Raises:
        DatasetError: empty file, wrong delimiter, or a missing column.
    """
    path = Path(path)
    frame = read_dataset_csv(
        path, REQUIRED_COLUMNS, delimiter=";", allowed_delimiters=(";", "\t", ",")
    )
    out = pd.DataFrame(index=frame.index)
    out["file_name"] = frame["file_name"].map(_normalise_file_name)
    out["source_row"] = frame["_row"].astype(int)
    out["laterality"] = frame["laterality"].str.upper()
    out["view"] = frame["view"].str.upper()
    out["acquisition_date"] = frame.get("acquisition_date", pd.Series("", index=frame.index))
    out["acr"] = frame["acr"] if "acr" in frame.columns else ""
    out["acr"] = out["acr"].where(~out["acr"].map(is_missing), None)
    out["birads"] = frame["bi_rads"].str.lower()

    def label(value: str) -> int | None:
        try:
            return birads_label(value)
        except ValueError:
            return None

    out["label"] = pd.array([label(v) for v in out["birads"]], dtype="Int64")
    return out[CSV_COLUMNS].reset_index(drop=True)


def _rows_by_file_name(
    table: pd.DataFrame, csv_path: Path, xlog: ExclusionLog
) -> tuple[dict[str, pd.Series], set[str]]:
    """One CSV row per File Name: bad names and repeats excluded (an exact repeat keeps the
    first row; conflicting rows exclude the image). Returns the rows and the conflicting names."""
    rows: dict[str, pd.Series] = {}
    conflicting: set[str] = set()
    content = [c for c in CSV_COLUMNS if c != "source_row"]
    for _, row in table.iterrows():
        name, line = row["file_name"], int(row["source_row"])
        if not re.fullmatch(r"\d{8}", name or ""):
            xlog.exclude(f"row {line}", csv_path, f"File Name {name!r} is not 8 digits", row=line)
        elif name not in rows:
            rows[name] = row
        elif same_values(rows[name], row, content):
            xlog.exclude(name, csv_path, f"duplicate of row {rows[name]['source_row']}", row=line)
        else:
            first = rows[name]["source_row"]
            why = f"conflicting rows for the same File Name (also row {first})"
            xlog.exclude(name, csv_path, why, row=line)
            conflicting.add(name)
    for name in sorted(conflicting):
        line = int(rows.pop(name)["source_row"])
        xlog.exclude(name, csv_path, "image excluded: conflicting CSV rows", row=line)
    return rows, conflicting


def _dicoms_by_file_name(
    dicom_dir: Path, xlog: ExclusionLog
) -> dict[str, list[tuple[str, re.Match[str]]]]:
    """File Name -> the DICOM files named for it (with their name match); files whose name does
    not follow :data:`FILE_NAME_RE` are excluded."""
    files: dict[str, list[tuple[str, re.Match[str]]]] = {}
    for path in (f for group in dicom_folders(dicom_dir).values() for f in group):
        match = FILE_NAME_RE.match(os.path.basename(path))
        if match is None:
            xlog.exclude(
                os.path.basename(path),
                path,
                "file name does not match the INbreast name pattern "
                "<8-digit File Name>_<16-hex patient>_MG_<L|R>_<VIEW>_ANON.dcm",
            )
            continue
        files.setdefault(match["file_name"], []).append((path, match))
    return files


def _one_dicom(
    name: str,
    row: pd.Series,
    matches: list[tuple[str, re.Match[str]]],
    csv_path: Path,
    xlog: ExclusionLog,
) -> tuple[str, re.Match[str]] | None:
    """The one DICOM of a CSV row whose name agrees with the row, or ``None`` (excluded)."""
    line = int(row["source_row"])
    if not matches:
        why = f"no DICOM file {name}_*.dcm in {DICOM_DIR}/ (missing)"
        xlog.exclude(name, csv_path, why, row=line)
        return None
    if len(matches) > 1:
        names = ", ".join(os.path.basename(p) for p, _ in matches)
        xlog.exclude(name, matches[0][0], f"{len(matches)} DICOM files for one File Name: {names}")
        return None
    path, match = matches[0]
    view = VIEW_TOKENS.get(match["view"], match["view"])
    if match["side"] != row["laterality"] or view != row["view"]:
        xlog.exclude(
            name,
            path,
            f"file name says {match['side']} {match['view']} but {CSV_NAME} row {line} says "
            f"{row['laterality']} {row['view']}",
        )
        return None
    return path, match


def _row_label(name: str, row: pd.Series, csv_path: Path, xlog: ExclusionLog) -> int | None:
    """The row's label, or ``None`` (excluded: BI-RADS 3 or an unknown value)."""
    line = int(row["source_row"])
    try:
        label = birads_label(row["birads"])
    except ValueError as exc:
        xlog.exclude(name, csv_path, str(exc), row=line)
        return None
    if label is None:
        why = "BI-RADS 3 (probably benign): excluded from labelling, as in Shen et al. 2019"
        xlog.exclude(name, csv_path, why, row=line)
    return label


def _index_image(
    name: str,
    row: pd.Series,
    matches: list[tuple[str, re.Match[str]]],
    csv_path: Path,
    xml_paths: dict[str, str],
    xlog: ExclusionLog,
) -> dict | None:
    """The images.csv record of one CSV row and its DICOM, or ``None`` (excluded)."""
    found = _one_dicom(name, row, matches, csv_path, xlog)
    if found is None:
        return None
    label = _row_label(name, row, csv_path, xlog)
    if label is None:
        return None
    path, match = found
    try:
        header = read_file_header(path)
    except ValueError as exc:
        xlog.exclude(name, path, str(exc))
        return None
    return {
        "dataset": DATASET,
        "image_id": name,
        "patient_id": match["patient"],
        "laterality": row["laterality"],
        "view": row["view"],
        "label": label,
        "split": "",
        "dicom_path": path,
        "birads": row["birads"],
        "acr": "" if is_missing(row["acr"]) else row["acr"],
        "acquisition_date": row["acquisition_date"],
        "xml_path": xml_paths.get(name, ""),
        "image_rows": header.rows,
        "image_cols": header.cols,
        "source": f"{csv_path}:{int(row['source_row'])}",
    }


def _xml_paths(xml_dir: Path) -> dict[str, str]:
    """File Name -> ``AllXML/<File Name>.xml`` for the XML files present."""
    if not xml_dir.is_dir():
        return {}
    return {n[: -len(".xml")]: str(xml_dir / n) for n in os.listdir(xml_dir) if n.endswith(".xml")}


def index_inbreast(root: Path, out: Path, strict: bool = False) -> IndexResult:
    """Index an INbreast release folder; write ``OUT/images.csv`` and ``OUT/exclusions.csv``.

    Args:
        root: the release folder holding ``AllDICOMs/`` and ``INbreast.csv`` (``AllXML/`` optional).
        out: output folder (created if missing).
        strict: raise :class:`DatasetError` at the first problem instead of excluding.

    Returns:
        :class:`IndexResult` with ``images`` (:data:`IMAGE_COLUMNS`, sorted by ``image_id``),
        ``rois=None`` and the exclusions. See the module docstring for the rules.
    """
    root, out = Path(root), Path(out)
    dicom_dir = require_dataset_folder(
        root,
        DICOM_DIR,
        "INbreast",
        f"not an INbreast release folder: expected {DICOM_DIR}/ (and {CSV_NAME}) inside it",
    )
    csv_path = root / CSV_NAME
    if not csv_path.is_file():
        raise DatasetError(csv_path, f"{CSV_NAME} not found in the INbreast release folder {root}")
    table = read_inbreast_csv(csv_path)
    xlog = ExclusionLog(strict)
    rows, conflicting = _rows_by_file_name(table, csv_path, xlog)
    files = _dicoms_by_file_name(dicom_dir, xlog)
    xml_paths = _xml_paths(root / XML_DIR)
    records = []
    for name in sorted(set(files) | set(rows)):
        if name in rows:
            record = _index_image(name, rows[name], files.get(name, []), csv_path, xml_paths, xlog)
            records.extend([record] if record else [])
        elif name not in conflicting:
            for path, _ in files[name]:
                xlog.exclude(name, path, f"DICOM file without a row in {CSV_NAME}")
    images = pd.DataFrame(records, columns=IMAGE_COLUMNS)
    return finish_index(out, images, None, xlog, "INbreast")


__all__ = [
    "FILE_NAME_RE",
    "IMAGE_COLUMNS",
    "IndexResult",
    "birads_label",
    "index_inbreast",
    "read_inbreast_csv",
]
