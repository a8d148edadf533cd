"""The convert stage: indexed DICOM images (and ROI masks) -> fixed-size 16-bit PNGs + tables.

The stage is four modules, one concern each, so that the pixels can be read (and tested)
without the files, and the worker processes load only what they run:

* :mod:`~e2e_mammo.preprocess.convert.pixels` -- the pixels: resize, intensity, masks (pure);
* :mod:`~e2e_mammo.preprocess.convert.worker` -- one image in, its PNGs out; serial or over a
  process pool (the only module the workers import);
* :mod:`~e2e_mammo.preprocess.convert.journal` -- resume: fingerprints and the journal;
* this module -- reading the index tables, planning the work, exclusions and the output tables.

Outputs under ``out_dir``:

* ``images/<image_id>.png`` -- 16-bit greyscale at ``size`` = (height, width) (see
  :func:`~e2e_mammo.preprocess.convert.pixels.resize_image`).
* ``masks/<image_id>_<abnormality_id>.png`` -- 8-bit 0/255 at the same ``size`` (see
  :func:`~e2e_mammo.preprocess.convert.pixels.resize_mask`). A mask with no foreground is excluded.
  Two ROIs never share a file: a name whose ids needed sanitising (``a/b``), or that would
  equal another ROI's (image ``P_1`` ROI ``2_3`` and image ``P_1_2`` ROI ``3``, or names that
  differ only in letter case), gets a hash of the exact id pair (``..._<10 hex>.png``); the
  ``mask_png_path`` column says which file is whose.
* ``manifest.csv`` -- every input column of ``images.csv`` plus :data:`IMAGE_COLUMNS`.
* ``masks.csv`` -- every input column of ``rois.csv`` plus :data:`MASK_COLUMNS`.
* ``exclusions.csv`` -- stage ``convert``: every image or ROI left out, with the reason.

The three tables quote the datasets' own IDs, so they are written spreadsheet-safe (``safe=True``
of :func:`~e2e_mammo.io.atomic_write_csv`; :func:`~e2e_mammo.io.read_table` undoes it).

Resuming (see :mod:`~e2e_mammo.preprocess.convert.journal`): a rerun skips images whose PNGs
exist and whose journal fingerprint matches. The three CSVs are written atomically only at the
end (``manifest.csv`` last), so an interrupted run never leaves a manifest that looks complete.
A full disk (``ENOSPC``, ``EDQUOT``) stops the stage with an
:class:`~e2e_mammo.errors.OutputError` naming ``out_dir``: the images finished so far stay in
the journal and no partial PNG is left, so a rerun after freeing space converts only the rest.
Running out of memory on one image excludes that image (see
:mod:`~e2e_mammo.preprocess.convert.worker`).

Relative ``dicom_path``/``mask_path`` values are resolved against the current directory first,
then against the folder of the CSV that names them. ``png_path``/``mask_png_path`` are written
as ``out_dir / ...`` exactly as ``out_dir`` was given (relative stays relative).

Excluded (listed in ``exclusions.csv``; raised instead with ``strict=True``): a missing,
unreadable or truncated DICOM, an undecodable transfer syntax, multi-frame/colour images, a
constant image (in both intensity modes), an image with NaN or infinite pixels, an image or
mask that ran out of memory, an ROI whose image is excluded or not in ``images.csv``, a
duplicate ROI, and a mask without foreground.

No DICOM identifier (PatientName, PatientID, ...) is read into the outputs; messages name
files and image ids only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from e2e_mammo.errors import ConfigError, DatasetError, OutputError
from e2e_mammo.exclusions import Exclusion, write_exclusions
from e2e_mammo.io import atomic_write_csv, read_table
from e2e_mammo.logs import Progress
from e2e_mammo.preprocess.convert import worker as convert_worker
from e2e_mammo.preprocess.convert.journal import (
    JOURNAL_NAME,
    Journal,
    fingerprint,
    load_journal,
    reusable,
)
from e2e_mammo.preprocess.convert.pixels import INTENSITY_MODES
from e2e_mammo.preprocess.convert.worker import ImageTask, Record
from e2e_mammo.preprocess.paths import resolve_listed_path

STAGE = "convert"
#: Columns the stage adds to ``images.csv`` in ``manifest.csv``.
IMAGE_COLUMNS = (
    "png_path",
    "orig_rows",
    "orig_cols",
    "rows",
    "cols",
    "intensity_min",
    "intensity_max",
    "photometric",
    "transfer_syntax",
)
#: Columns the stage adds to ``rois.csv`` in ``masks.csv``.
MASK_COLUMNS = (
    "mask_png_path",
    "mask_rows",
    "mask_cols",
    "image_rows",
    "image_cols",
    "shape_mismatch",
    "foreground_fraction",
    "mask_resize",
)
#: Columns the stage needs in ``rois.csv``.
ROI_COLUMNS = ("image_id", "abnormality_id", "mask_path")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")

#: errno values of a full disk or an exhausted quota.
DISK_FULL = tuple(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)

#: An ROI left out before any conversion: (item, source, reason), by its row in ``rois.csv``.
RoiProblems = dict[int, tuple[str, str, str]]


@dataclass
class ConvertResult:
    """What :func:`convert_dataset` wrote: the manifest, the masks table and the exclusions."""

    manifest: pd.DataFrame
    masks: pd.DataFrame
    exclusions: list[Exclusion]


# --------------------------------------------------------------------------------------------
# Planning: the index tables -> one task per image
# --------------------------------------------------------------------------------------------


def _check_args(size: tuple[int, int], threads: int, intensity: str) -> tuple[int, int]:
    if intensity not in INTENSITY_MODES:
        raise ConfigError(f"intensity must be one of {INTENSITY_MODES}, got {intensity!r}")
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ConfigError(f"size must be (height, width), got {size!r}") from None
    if height <= 0 or width <= 0:
        raise ConfigError(f"size must be positive, got {size!r}")
    if int(threads) < 1:
        raise ConfigError(f"threads must be >= 1, got {threads!r}")
    return height, width


def _safe_name(text: str) -> str:
    name = _SAFE_NAME.sub("_", text.strip())
    return name if name and not name.startswith(".") else f"_{name}"


def _image_ids(images: pd.DataFrame, images_csv: Path) -> pd.Series:
    """The stripped image ids; raises on a duplicate id or a duplicate PNG file name."""
    ids = images["image_id"].str.strip()
    names = ids.map(_safe_name)
    for label, series in (("image_id", ids), ("image_id (as a file name)", names)):
        dup = series[series.duplicated(keep=False)]
        if not dup.empty:
            rows = ", ".join(str(i + 2) for i in dup.index[:10])
            raise DatasetError(images_csv, f"duplicate {label} {dup.iloc[0]!r} (lines {rows})")
    return ids


def _image_tasks(
    images: pd.DataFrame,
    ids: pd.Series,
    images_csv: Path,
    out_dir: Path,
    size: tuple[int, int],
    intensity: str,
) -> dict[str, ImageTask]:
    """One task per image with a ``dicom_path`` (the others are excluded later)."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    tasks: dict[str, ImageTask] = {}
    for image_id, dicom in zip(ids, images["dicom_path"], strict=True):
        if not dicom.strip():
            continue  # excluded as "no dicom_path"
        tasks[image_id] = ImageTask(
            image_id=image_id,
            dicom_path=resolve_listed_path(dicom.strip(), images_csv),
            png_path=str(out_dir / "images" / f"{_safe_name(image_id)}.png"),
            size=size,
            intensity=intensity,
        )
    return tasks


def _pair_hash(image_id: str, abn: str) -> str:
    return hashlib.sha256(f"{image_id}\0{abn}".encode()).hexdigest()[:10]


def mask_names(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A unique PNG stem per distinct ``(image_id, abnormality_id)`` pair.

    ``<image_id>_<abnormality_id>`` as it is when both are safe file names and no other pair
    gives the same name (ignoring letter case, for case-insensitive file systems); otherwise
    the sanitised name plus ``_<hash>`` of the exact pair. The same table gives the same names.
    """
    plain = {p: f"{_safe_name(p[0])}_{_safe_name(p[1])}" for p in set(pairs)}
    hashed = {p for p in plain if plain[p] != f"{p[0]}_{p[1]}"}
    while True:
        names = {p: f"{n}_{_pair_hash(*p)}" if p in hashed else n for p, n in plain.items()}
        holders: dict[str, list[tuple[str, str]]] = {}
        for pair, name in names.items():
            holders.setdefault(name.casefold(), []).append(pair)
        clash = {p for group in holders.values() if len(group) > 1 for p in group}
        if not clash:
            return names
        if clash <= hashed:  # pragma: no cover - two 40-bit hashes alike
            raise ValueError(f"mask file names clash even with hashes: {sorted(clash)}")
        hashed |= clash


def _attach_rois(
    rois: pd.DataFrame,
    rois_csv: Path,
    images_csv: Path,
    known_ids: set[str],
    tasks: dict[str, ImageTask],
    out_dir: Path,
) -> RoiProblems:
    """Add each ROI mask to its image's task; returns the ROIs left out before conversion."""
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    problems: RoiProblems = {}
    seen: set[tuple[str, str]] = set()
    attached: list[tuple[int, str, str, str]] = []
    for i, row in enumerate(rois.itertuples(index=False)):
        image_id, abn = str(row.image_id).strip(), str(row.abnormality_id).strip()
        item, where = f"{image_id}_{abn}", f"{rois_csv}:{i + 2}"
        if (image_id, abn) in seen:
            problems[i] = (item, where, "duplicate (image_id, abnormality_id)")
        elif image_id not in known_ids:
            problems[i] = (item, where, f"image {image_id!r} is not in {images_csv}")
        elif not str(row.mask_path).strip():
            problems[i] = (item, where, "no mask_path")
        elif image_id in tasks:
            mask = resolve_listed_path(str(row.mask_path).strip(), rois_csv)
            attached.append((i, image_id, abn, mask))
        seen.add((image_id, abn))
    names = mask_names([(image_id, abn) for _, image_id, abn, _ in attached])
    for i, image_id, abn, mask in attached:
        png = out_dir / "masks" / f"{names[image_id, abn]}.png"
        tasks[image_id].rois.append((i, mask, str(png)))
    return problems


def _read_rois(
    rois_csv: Path | None,
    images_csv: Path,
    known_ids: set[str],
    tasks: dict[str, ImageTask],
    out_dir: Path,
) -> tuple[pd.DataFrame | None, RoiProblems]:
    """``rois.csv`` (``None`` without one) with its masks attached to the tasks, and the ROIs
    left out before conversion."""
    if rois_csv is None:
        return None, {}
    rois = read_table(rois_csv, ROI_COLUMNS)
    return rois, _attach_rois(rois, rois_csv, images_csv, known_ids, tasks, out_dir)


def _problems_before_conversion(
    ids: pd.Series,
    tasks: dict[str, ImageTask],
    roi_problems: RoiProblems,
    images_csv: Path,
    strict: bool,
) -> list[Exclusion]:
    """Images without a ``dicom_path`` and the ROI problems, as exclusions (or raised)."""
    found = [
        (image_id, f"{images_csv}:{pos + 2}", "no dicom_path")
        for pos, image_id in enumerate(ids)
        if image_id not in tasks
    ]
    found += [roi_problems[i] for i in sorted(roi_problems)]
    if strict and found:
        raise DatasetError(found[0][1], found[0][2])
    return [Exclusion(STAGE, *problem) for problem in found]


# --------------------------------------------------------------------------------------------
# Running: skip what the journal holds, convert the rest
# --------------------------------------------------------------------------------------------


def _split_finished(
    tasks: dict[str, ImageTask], journal_path: Path
) -> tuple[dict[str, Record], list[ImageTask]]:
    """Fingerprint every task; returns the journal's reusable records and the tasks to do."""
    for task in tasks.values():
        task.fingerprint = fingerprint(task)
    previous = load_journal(journal_path)
    finished: dict[str, Record] = {}
    todo: list[ImageTask] = []
    for task in tasks.values():
        if reusable(task, previous.get(task.image_id)):
            finished[task.image_id] = previous[task.image_id][1]
        else:
            todo.append(task)
    return finished, todo


def _raise_first_error(result: Record) -> None:
    if result["error"]:
        raise DatasetError(*result["error"])
    for roi in result["rois"]:
        if roi["error"]:
            raise DatasetError(*roi["error"])


def _convert_tasks(
    todo: list[ImageTask],
    threads: int,
    journal_path: Path,
    strict: bool,
    reporter: Progress,
    results: dict[str, Record],
) -> None:
    """Convert ``todo`` (in this process or a pool) into ``results``, journalling each image
    once it is done (so ``results`` holds what finished even when this raises)."""
    if threads == 1 or len(todo) <= 1:
        stream = convert_worker.run_serial(todo)
    else:
        stream = convert_worker.run_pool(todo, min(threads, len(todo)))
    try:
        journal = Journal(journal_path)
        try:
            for task, result in stream:
                if strict:
                    _raise_first_error(result)
                if not result["error"]:
                    journal.append(task, result)
                results[task.image_id] = result
                reporter.tick()
        finally:
            journal.close()
    finally:
        stream.close()  # shuts the pool down (cancelling queued work) on any error


@contextmanager
def _stop_when_disk_full(out_dir: Path, results: dict[str, Record]) -> Iterator[None]:
    """Raise a full disk (or quota) as an :class:`OutputError` naming ``out_dir`` that says
    what to do; any other ``OSError`` passes unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        kept = sum(1 for r in results.values() if not r["error"])
        where = f" ({exc.filename})" if exc.filename else ""
        raise OutputError(
            out_dir,
            f"disk full: {os.strerror(exc.errno)}{where}. {kept} converted image(s) are kept "
            f"(journal {JOURNAL_NAME}); free space on that disk and run the stage again: it "
            "converts only the rest",
        ) from exc


# --------------------------------------------------------------------------------------------
# Tables, in input order
# --------------------------------------------------------------------------------------------


def _manifest_table(
    images: pd.DataFrame,
    ids: pd.Series,
    tasks: dict[str, ImageTask],
    results: dict[str, Record],
    exclusions: list[Exclusion],
) -> pd.DataFrame:
    """``manifest.csv``: converted images; failed ones are appended to ``exclusions``."""
    rows: list[dict[str, Any]] = []
    for pos, row in enumerate(images.to_dict("records")):
        image_id = ids.iloc[pos]
        task = tasks.get(image_id)
        if task is None:
            continue
        result = results[image_id]
        if result["error"]:
            exclusions.append(Exclusion(STAGE, image_id, result["error"][0], result["error"][1]))
            continue
        rows.append({**row, "png_path": task.png_path, **result["image"]})
    columns = list(images.columns) + [c for c in IMAGE_COLUMNS if c not in images.columns]
    return pd.DataFrame(rows, columns=columns)


def _masks_table(
    rois: pd.DataFrame | None,
    rois_csv: Path | None,
    tasks: dict[str, ImageTask],
    results: dict[str, Record],
    roi_problems: RoiProblems,
    exclusions: list[Exclusion],
) -> pd.DataFrame:
    """``masks.csv``: converted ROI masks; failed ones are appended to ``exclusions``."""
    rows: list[dict[str, Any]] = []
    mask_columns = list(rois.columns) if rois is not None else []
    records = rois.to_dict("records") if rois is not None else []
    roi_png = {r: p for t in tasks.values() for r, _, p in t.rois}
    roi_result = {roi["row"]: roi for t in tasks.values() for roi in results[t.image_id]["rois"]}
    for i, row in enumerate(records):
        if i in roi_problems:
            continue
        image_id = str(row["image_id"]).strip()
        item = f"{image_id}_{str(row['abnormality_id']).strip()}"
        image_result = results.get(image_id)
        if image_result is None or image_result["error"]:
            why = image_result["error"][1] if image_result else "no dicom_path"
            reason = f"its image was excluded: {why}"
            exclusions.append(Exclusion(STAGE, item, f"{rois_csv}:{i + 2}", reason))
            continue
        roi = roi_result[i]
        if roi["error"]:
            exclusions.append(Exclusion(STAGE, item, roi["error"][0], roi["error"][1]))
            continue
        rows.append({**row, "mask_png_path": roi_png[i], **roi["values"]})
    columns = mask_columns + [c for c in MASK_COLUMNS if c not in mask_columns]
    return pd.DataFrame(rows, columns=columns)


def _write_tables(result: ConvertResult, out_dir: Path) -> None:
    """The three tables, each atomic and spreadsheet-safe; ``manifest.csv`` last (a manifest
    means complete)."""
    atomic_write_csv(result.masks, out_dir / "masks.csv", safe=True)
    write_exclusions(result.exclusions, out_dir / "exclusions.csv")
    atomic_write_csv(result.manifest, out_dir / "manifest.csv", safe=True)


# --------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------


def convert_dataset(
    images_csv: Path,
    out_dir: Path,
    size: tuple[int, int] = (1152, 896),
    threads: int = 1,
    rois_csv: Path | None = None,
    intensity: str = "minmax",
    strict: bool = False,
    progress: bool = True,
) -> ConvertResult:
    """Convert every image of ``images_csv`` (and the ROI masks of ``rois_csv``) to PNG.

    Args:
        images_csv: the indexer's ``images.csv`` (needs ``image_id`` and ``dicom_path``; every
            column is copied to the manifest).
        out_dir: output folder (``images/``, ``masks/``, the three CSVs, the journal).
        size: (height, width) of every output PNG.
        threads: worker processes; 1 runs in this process.
        rois_csv: optional ``rois.csv`` (needs ``image_id``, ``abnormality_id``, ``mask_path``).
        intensity: ``"minmax"`` or ``"stored"`` (see :mod:`~e2e_mammo.preprocess.convert.pixels`).
        strict: raise the first :class:`DatasetError` instead of excluding the item.
        progress: print progress lines on stderr.

    Returns:
        A :class:`ConvertResult` with the frames written to ``manifest.csv``, ``masks.csv`` and
        the exclusions written to ``exclusions.csv``.

    Raises:
        DatasetError: unreadable/invalid CSVs or duplicate image ids; with ``strict``, any
            image or ROI that would have been excluded.
        OutputError: the disk (or quota) of ``out_dir`` is full; finished images are kept and
            a rerun converts the rest.
        ConfigError: invalid ``size``, ``threads`` or ``intensity``.
    """
    size = _check_args(size, threads, intensity)
    images_csv, out_dir = Path(images_csv), Path(out_dir)
    images = read_table(images_csv, ("image_id", "dicom_path"))
    ids = _image_ids(images, images_csv)
    tasks = _image_tasks(images, ids, images_csv, out_dir, size, intensity)
    rois_csv = Path(rois_csv) if rois_csv is not None else None
    rois, roi_problems = _read_rois(rois_csv, images_csv, set(ids), tasks, out_dir)

    results, todo = _split_finished(tasks, out_dir / JOURNAL_NAME)
    # Problems found before any conversion raise in strict mode before work starts.
    exclusions = _problems_before_conversion(ids, tasks, roi_problems, images_csv, strict)
    reporter = Progress("convert", len(todo), enabled=progress)
    skipped = f" ({len(results)} already converted, skipped)" if results else ""
    reporter.note(f"{len(todo)} image(s) to convert{skipped}")
    with _stop_when_disk_full(out_dir, results):
        _convert_tasks(todo, int(threads), out_dir / JOURNAL_NAME, strict, reporter, results)
        manifest = _manifest_table(images, ids, tasks, results, exclusions)
        masks = _masks_table(rois, rois_csv, tasks, results, roi_problems, exclusions)
        _write_tables(ConvertResult(manifest, masks, exclusions), out_dir)
    reporter.note(
        f"wrote {len(manifest)} image(s), {len(masks)} mask(s), "
        f"{len(exclusions)} exclusion(s) to {out_dir}"
    )
    return ConvertResult(manifest=manifest, masks=masks, exclusions=exclusions)


__all__ = [
    "DISK_FULL",
    "IMAGE_COLUMNS",
    "MASK_COLUMNS",
    "STAGE",
    "ConvertResult",
    "convert_dataset",
    "mask_names",
]
