"""Converting one image (and its ROI masks) to PNG files, in this process or in a worker pool.

:func:`convert_image` is the unit of work: read the DICOM, resize it
(:mod:`~e2e_mammo.preprocess.convert.pixels`), write the PNG, then the same for each ROI mask. It
returns a small JSON-able record (what the manifest and the resume journal need); a
:class:`~e2e_mammo.errors.DatasetError` becomes data in the record, since the stage decides
whether it excludes or raises. Each PNG is written atomically (:func:`e2e_mammo.io.atomic_path`,
a unique temporary name per call, so two workers never share one), so a PNG that exists is
complete.

Running out of memory on one image (a ``MemoryError``, or OpenCV's out-of-memory error, while
decoding, resizing or encoding it or one of its masks) is that image's problem, not the
batch's: it becomes a :class:`~e2e_mammo.errors.DatasetError` ("out of memory while ...") and
so an exclusion, and the other images go on. Not so a full disk: an ``OSError`` while writing
(``ENOSPC``, ``EDQUOT``) is raised as it is, the stage stops and says so, and a rerun resumes.

Parallelism (:func:`run_pool`): a ``ProcessPoolExecutor`` on the ``forkserver`` start method (a
forked parent's OpenCV thread pool can hang ``cv2.resize`` in the child), with
``cv2.setNumThreads(1)`` in each worker and at most ``2 * threads`` images in flight. Workers do
not re-run the caller's ``__main__`` (see :func:`_main_hidden`), so unguarded scripts such as
Snakemake ``script:`` files are safe. Outputs do not depend on the number of workers.

PNGs are encoded with ``cv2.imencode``, which writes no text chunks, so no DICOM identifier
reaches them. This module (the forkserver preload) imports neither pandas nor the stage, so
workers start quickly.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from e2e_mammo.errors import DatasetError
from e2e_mammo.io import atomic_write
from e2e_mammo.preprocess.convert.pixels import resize_image, resize_mask
from e2e_mammo.preprocess.dicom import ImageInfo, read_image_with_info, read_mask
from e2e_mammo.start_method import start_method

#: cv2.imencode parameters for the PNGs. OpenCV's defaults (zlib level 1, RLE strategy) are
#: ~3x faster than an explicit IMWRITE_PNG_COMPRESSION=1 (default strategy) at a similar size.
PNG_PARAMS: tuple[int, ...] = ()
#: Let the parent convert images while the pool's workers start (tests switch it off to make
#: every image go through a worker).
CONVERT_WHILE_STARTING = True

#: What :func:`convert_image` returns: ``{"image_id", "error", "image", "rois"}``.
Record = dict[str, Any]


@dataclass
class ImageTask:
    """One image and its ROI masks; plain data so it pickles cheaply to a worker."""

    image_id: str
    dicom_path: str
    png_path: str
    size: tuple[int, int]
    intensity: str
    rois: list[tuple[int, str, str]] = field(default_factory=list)  # (roi row, mask, mask png)
    fingerprint: str = ""


def write_png(array: np.ndarray, path: str) -> None:
    """Encode ``array`` as PNG (no text chunks) and write it to ``path`` atomically (on any
    error, a full disk included, nothing is left at ``path`` or beside it)."""
    ok, buf = cv2.imencode(".png", array, list(PNG_PARAMS))
    if not ok:  # pragma: no cover - cv2 only fails on unsupported dtypes
        raise RuntimeError(f"{path}: PNG encoding failed")
    atomic_write(path, lambda tmp: tmp.write_bytes(buf))


def _is_out_of_memory(exc: BaseException) -> bool:
    """A ``MemoryError`` (numpy's included) or OpenCV's "insufficient memory" error."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, cv2.error) and getattr(exc, "code", None) == cv2.Error.StsNoMem


@contextmanager
def _out_of_memory_excludes(path: str, step: str) -> Iterator[None]:
    """Turn running out of memory during ``step`` into a :class:`DatasetError` on ``path``
    (the item is excluded, the batch goes on; a rerun tries it again)."""
    try:
        yield
    except (MemoryError, cv2.error) as exc:
        if not _is_out_of_memory(exc):
            raise
        detail = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
        raise DatasetError(
            path,
            f"out of memory while {step} ({detail[0]}); convert with fewer threads or on a "
            "machine with more memory (a rerun tries it again)",
        ) from None


def _convert_pixels(task: ImageTask) -> tuple[dict[str, Any], ImageInfo]:
    """Write the image's PNG; returns its manifest values and the DICOM header facts."""
    with _out_of_memory_excludes(task.dicom_path, "decoding the image"):
        image, info = read_image_with_info(task.dicom_path, native=True)
    size = f"{info.rows}x{info.cols}"
    with _out_of_memory_excludes(task.dicom_path, f"resizing the {size} image"):
        try:
            png, lo, hi = resize_image(image, task.size, task.intensity)
        except ValueError as exc:
            raise DatasetError(task.dicom_path, str(exc)) from None
    del image
    with _out_of_memory_excludes(task.dicom_path, "encoding the PNG"):
        write_png(png, task.png_path)
    values = {
        "orig_rows": info.rows,
        "orig_cols": info.cols,
        "rows": int(png.shape[0]),
        "cols": int(png.shape[1]),
        "intensity_min": lo,
        "intensity_max": hi,
        "photometric": info.photometric,
        "transfer_syntax": info.transfer_syntax,
    }
    return values, info


def _convert_mask(
    mask_path: str, mask_png: str, task: ImageTask, info: ImageInfo
) -> dict[str, Any]:
    """Write one ROI mask's PNG; returns its ``masks.csv`` values."""
    with _out_of_memory_excludes(mask_path, "decoding the mask"):
        mask = read_mask(mask_path)
    if not mask.any():
        raise DatasetError(mask_path, "mask has no foreground")
    with _out_of_memory_excludes(mask_path, f"resizing the {mask.shape[0]}x{mask.shape[1]} mask"):
        small, method = resize_mask(mask, task.size)
        write_png(small, mask_png)
    return {
        "mask_rows": int(mask.shape[0]),
        "mask_cols": int(mask.shape[1]),
        "image_rows": info.rows,
        "image_cols": info.cols,
        "shape_mismatch": bool(mask.shape != (info.rows, info.cols)),
        "foreground_fraction": float(np.count_nonzero(small)) / small.size,
        "mask_resize": method,
    }


def convert_image(task: ImageTask) -> Record:
    """Convert one image and its masks to PNG. DatasetErrors become data (they pickle badly)."""
    result: Record = {"image_id": task.image_id, "error": None, "image": {}, "rois": []}
    try:
        result["image"], info = _convert_pixels(task)
    except DatasetError as exc:
        result["error"] = [exc.path, exc.problem]
        return result
    for roi_row, mask_path, mask_png in task.rois:
        entry: dict[str, Any] = {"row": roi_row, "error": None, "values": {}}
        try:
            entry["values"] = _convert_mask(mask_path, mask_png, task, info)
        except DatasetError as exc:
            entry["error"] = [exc.path, exc.problem]
        result["rois"].append(entry)
    return result


def _init_worker() -> None:
    cv2.setNumThreads(1)


def run_serial(tasks: list[ImageTask]) -> Iterator[tuple[ImageTask, Record]]:
    """Convert ``tasks`` one after another in this process, yielding each record."""
    for task in tasks:
        yield task, convert_image(task)


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Start workers without re-running the caller's ``__main__``.

    forkserver/spawn workers normally re-import the main script (as ``__mp_main__``) before
    running a task. A Snakemake ``script:`` file or any script without an
    ``if __name__ == "__main__":`` guard would then run the whole conversion again inside each
    worker. The workers only need this module, so ``__main__``'s ``__file__``/``__spec__`` are
    hidden while the worker processes are started (all of them start during the first submits).
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def run_pool(tasks: list[ImageTask], threads: int) -> Iterator[tuple[ImageTask, Record]]:
    """Convert ``tasks`` over ``threads`` worker processes, yielding records as they finish.

    Closing the generator (or an error) shuts the pool down and cancels queued work.
    """
    # forkserver: workers never inherit a parent's OpenCV thread pool (fork can hang in
    # cv2.resize after the parent used it); the preload keeps worker start-up cheap.
    ctx = multiprocessing.get_context(start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["e2e_mammo.preprocess.convert.worker"])
    window = threads * 2  # bounded in-flight work keeps memory flat
    pending: dict[Future[Record], ImageTask] = {}
    queue = iter(tasks)
    pool = ProcessPoolExecutor(max_workers=threads, mp_context=ctx, initializer=_init_worker)
    try:
        # Workers are started by these first submits (one per submit up to `threads`).
        with _main_hidden():
            for task in queue:
                pending[pool.submit(convert_image, task)] = task
                if len(pending) >= window:
                    break
        # Starting the workers (a fresh interpreter importing numpy, cv2 and pydicom) takes
        # ~0.5 s; convert from the queue here meanwhile, so start-up overlaps useful work.
        while CONVERT_WHILE_STARTING and not any(future.done() for future in pending):
            task = next(queue, None)
            if task is None:
                break
            yield task, convert_image(task)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                yield task, future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(convert_image, nxt)] = nxt
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = [
    "CONVERT_WHILE_STARTING",
    "PNG_PARAMS",
    "ImageTask",
    "Record",
    "convert_image",
    "run_pool",
    "run_serial",
    "write_png",
]
