"""Pieces shared by the CBIS-DDSM and INbreast indexers.

- :class:`IndexResult`, what both indexers return;
- :class:`ExclusionLog`, which either records an :class:`Exclusion` or, in strict mode, raises a
  :class:`~e2e_mammo.errors.DatasetError` naming the file (and CSV row) at the first problem
  (:meth:`ExclusionLog.record` records a leave-out that is not a problem, even in strict mode);
- :func:`require_dataset_folder`, the two hard errors every indexer starts with;
- :func:`read_dataset_csv`, a careful CSV reader (delimiter check, empty file, missing columns,
  column-name normalisation, stripped string values), and :func:`same_values`, which tells an
  exact duplicate record from a conflicting one;
- :func:`dicom_folders`, one sorted walk of a folder's ``.dcm`` files;
- :func:`read_file_header`, a header-only DICOM read with a truncation check;
- :func:`write_outputs`, the atomic writing of ``images.csv``, ``rois.csv`` and ``exclusions.csv``,
  and :func:`finish_index`, which sorts, writes, logs and returns an :class:`IndexResult`.

CSV row numbers in messages are **1-based data-record numbers** (the header is row 0); a record may
span several physical lines when a quoted field holds a line feed, as in the CBIS-DDSM CSVs.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pydicom
from pydicom.errors import InvalidDicomError

from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import Exclusion, write_exclusions
from e2e_mammo.io import atomic_write_csv

log = logging.getLogger(__name__)

STAGE = "index"
MISSING_TOKENS = frozenset({"", "NA", "N/A"})
#: The leading columns of every indexer's ``images.csv`` (what conversion and splits read).
IMAGE_KEY_COLUMNS = (
    "dataset",
    "image_id",
    "patient_id",
    "laterality",
    "view",
    "label",
    "split",
    "dicom_path",
)


@dataclass
class IndexResult:
    """What an indexer produced (also written to ``OUT``).

    Attributes:
        images: one row per full image (``images.csv``).
        rois: one row per ROI (``rois.csv``), or ``None`` for datasets without ROI files (INbreast).
        exclusions: everything left out, with the reason (``exclusions.csv``).
    """

    images: pd.DataFrame
    rois: pd.DataFrame | None
    exclusions: list[Exclusion] = field(default_factory=list)


class ExclusionLog:
    """Collects exclusions; in strict mode the first one raises :class:`DatasetError` instead."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.items: list[Exclusion] = []

    def exclude(self, item: str, path: str | Path, reason: str, row: int | None = None) -> None:
        """Leave ``item`` out for ``reason``; ``path`` (and ``row``) say where it came from."""
        if self.strict:
            raise DatasetError(path, f"{item}: {reason}", row=row)
        self.record(item, path, reason, row=row)

    def record(self, item: str, path: str | Path, reason: str, row: int | None = None) -> None:
        """Record ``item`` as left out for ``reason``, also in strict mode.

        For leave-outs that are part of the data rather than a problem with it (a CBIS-DDSM
        scan listed twice keeps one DICOM; the other is recorded here).
        """
        source = str(path) if row is None else f"{path}:{row}"
        log.debug("excluded %s (%s): %s", item, source, reason)
        self.items.append(Exclusion(STAGE, str(item), source, reason))


def require_dataset_folder(root: Path, subfolder: str, dataset: str, problem: str) -> Path:
    """``root/subfolder``, after checking both exist.

    Raises:
        DatasetError: naming ``root``: ``<dataset> root folder does not exist``, or ``problem``
            when ``root`` has no ``subfolder``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, f"{dataset} root folder does not exist")
    folder = root / subfolder
    if not folder.is_dir():
        raise DatasetError(root, problem)
    return folder


def normalise_column(name: str) -> str:
    """``'Left or Right Breast '`` -> ``'left_or_right_breast'``; ``'Bi-Rads'`` -> ``'bi_rads'``."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def is_missing(value: object) -> bool:
    """True for NaN/None and for the dataset's spellings of a missing value (``''``, NA, N/A)."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return str(value).strip().upper() in MISSING_TOKENS


def same_values(first: pd.Series, second: pd.Series, columns: list[str]) -> bool:
    """Whether two records agree on ``columns`` (two missing values count as equal)."""
    return all(
        (is_missing(first[c]) and is_missing(second[c])) or first[c] == second[c] for c in columns
    )


def dicom_folders(top: Path) -> dict[tuple[str, ...], list[str]]:
    """One sorted walk of ``top``: folder parts below ``top`` -> its ``.dcm`` paths (sorted).

    Folders without ``.dcm`` files are left out; ``.dcm`` matches in any letter case.
    """
    found: dict[tuple[str, ...], list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        dcms = sorted(f for f in filenames if f.lower().endswith(".dcm"))
        if dcms:
            found[Path(dirpath).relative_to(top).parts] = [os.path.join(dirpath, f) for f in dcms]
    return found


def read_dataset_csv(
    path: Path,
    required: tuple[str, ...],
    delimiter: str = ",",
    allowed_delimiters: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Read a description CSV into an all-string frame with normalised column names.

    Args:
        path: the CSV file.
        required: normalised column names that must be present.
        delimiter: the expected delimiter.
        allowed_delimiters: delimiters accepted instead (first one found in the header wins);
            ``None`` accepts only ``delimiter``.

    Returns:
        A frame of ``str`` values (every value stripped, nothing turned into NaN) with a 1-based
        ``_row`` column (data-record number).

    Raises:
        DatasetError: unreadable file, wrong delimiter, no data rows, or a missing column.
    """
    text = _read_text(path)
    sep = _delimiter(path, text.split("\n", 1)[0], allowed_delimiters or (delimiter,))
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(path, f"cannot parse the CSV: {exc}") from exc
    frame.columns = [normalise_column(str(c)) for c in frame.columns]
    if frame.empty:
        raise DatasetError(path, "the CSV file has a header but no data rows")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(
            path,
            f"missing column(s) {', '.join(repr(c) for c in missing)} "
            f"(after normalising names; found {', '.join(frame.columns)})",
        )
    for column in frame.columns:
        frame[column] = frame[column].astype(str).str.strip()
    frame["_row"] = range(1, len(frame) + 1)
    return frame


def _read_text(path: Path) -> str:
    """The file's text (UTF-8, with or without BOM; else Latin-1)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, f"cannot read the file: {exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _delimiter(path: Path, header: str, candidates: tuple[str, ...]) -> str:
    """The first of ``candidates`` found in the header line, else a :class:`DatasetError` that
    says which delimiter the header seems to use."""
    if not header.strip():
        raise DatasetError(path, "the CSV file is empty (no header line)")
    sep = next((d for d in candidates if d in header), None)
    if sep is not None:
        return sep
    others = [name for d, name in ((";", "';'"), ("\t", "tab"), (",", "','")) if d in header]
    named = {",": "comma", ";": "semicolon", "\t": "tab"}
    expected = " or ".join(f"{named.get(d, repr(d))}-separated" for d in candidates)
    found = f"; the header looks {others[0]}-separated" if others else ""
    raise DatasetError(path, f"expected {expected} values{found}: {header.strip()[:120]!r}")


@dataclass(frozen=True)
class Header:
    """The few header fields the indexers need."""

    rows: int
    cols: int
    bits_allocated: int
    bits_stored: int
    photometric: str
    series_description: str
    file_size: int


def read_file_header(path: str | Path) -> Header:
    """Read a DICOM header without pixels and check the file is long enough for its pixel data.

    Raises:
        ValueError: not a DICOM file, no image attributes, or truncated (message says which).
    """
    try:
        with open(path, "rb") as handle:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
            pixel_offset = handle.tell()  # pydicom stops at the start of the Pixel Data element
    except InvalidDicomError as exc:
        raise ValueError(f"not a readable DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises many types on truncated/garbled input
        raise ValueError(f"unreadable DICOM file ({type(exc).__name__}: {exc})") from exc
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits_allocated = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError("DICOM file without Rows/Columns/BitsAllocated (not an image)") from exc
    bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    size = os.path.getsize(path)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    compressed = bool(syntax is not None and syntax.is_compressed)
    needed = (rows * cols * samples * frames * bits_allocated + 7) // 8
    available = size - pixel_offset - 8  # element header: tag + length (+ VR, reserved: 12)
    if not compressed and available < needed:
        raise ValueError(
            f"truncated DICOM file: {max(available, 0)} bytes of pixel data, but its {rows}x{cols} "
            f"{bits_allocated}-bit image needs {needed}"
        )
    return Header(
        rows=rows,
        cols=cols,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        photometric=str(ds.get("PhotometricInterpretation", "")),
        series_description=str(ds.get("SeriesDescription", "")),
        file_size=size,
    )


def write_outputs(
    out: Path,
    images: pd.DataFrame,
    rois: pd.DataFrame | None,
    exclusions: list[Exclusion],
) -> None:
    """Write ``images.csv`` (and ``rois.csv``) then ``exclusions.csv``, each atomically.

    Every file goes through a temporary name and an atomic rename, so none ever looks complete
    while half-written; ``exclusions.csv`` is written last. The tables hold the dataset's own
    IDs and file names, so they are written spreadsheet-safe (``safe=True`` of
    :func:`~e2e_mammo.io.atomic_write_csv`; :func:`e2e_mammo.io.read_table` undoes it).
    """
    out.mkdir(parents=True, exist_ok=True)
    if rois is not None:
        atomic_write_csv(rois, out / "rois.csv", safe=True)
    atomic_write_csv(images, out / "images.csv", safe=True)
    write_exclusions(exclusions, out / "exclusions.csv")


def finish_index(
    out: Path, images: pd.DataFrame, rois: pd.DataFrame | None, xlog: ExclusionLog, dataset: str
) -> IndexResult:
    """Sort ``images`` by ``image_id``, write the outputs to ``out``, log a summary, return them.

    ``rois`` is written as given (or not at all when ``None``).
    """
    images = images.sort_values("image_id").reset_index(drop=True)
    write_outputs(out, images, rois, xlog.items)
    log.info(
        "%s index: %d images (%d positive)%s, %d exclusions -> %s",
        dataset,
        len(images),
        int(images["label"].sum()) if len(images) else 0,
        "" if rois is None else f", {len(rois)} ROIs",
        len(xlog.items),
        out,
    )
    return IndexResult(images=images, rois=rois, exclusions=list(xlog.items))
