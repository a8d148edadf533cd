"""Convert the indexed DICOM images (and ROI masks) to fixed-size 16-bit PNGs.

Outputs under ``out_dir``:

* ``images/<image_id>.png`` -- 16-bit greyscale, resized to ``size`` = (height, width) with
  ``cv2.INTER_AREA`` (aspect ratio forced, as in Shen et al. 2019). Intensity ``"minmax"`` maps
  each image's [min, max] after the DICOM LUTs linearly onto [0, 65535]; ``"stored"`` keeps the
  values (clipped to 0..65535, rounded).
* ``masks/<image_id>_<abnormality_id>.png`` -- 8-bit 0/255, resized to the same ``size`` with
  ``cv2.INTER_NEAREST`` even when the mask's own shape differs from its image's. If a mask has
  foreground but nearest-neighbour resizing loses all of it (a lesion smaller than the sampling
  step), it is resized again with ``INTER_AREA`` on a float copy and thresholded at ``> 0``, so a
  tiny lesion survives as at least one pixel (``mask_resize = "area_fallback"``). A mask with no
  foreground at all is excluded.
* ``manifest.csv`` -- every input column of ``images.csv`` plus ``png_path, orig_rows,
  orig_cols, rows, cols, intensity_min, intensity_max, photometric, transfer_syntax``.
* ``masks.csv`` -- every input column of ``rois.csv`` plus ``mask_png_path, mask_rows,
  mask_cols, image_rows, image_cols, shape_mismatch, foreground_fraction, mask_resize``.
* ``exclusions.csv`` -- stage ``convert``: every image or ROI left out, with the reason.

Resuming: each PNG is written atomically and, once an image (with its masks) is finished, a
row is appended to ``.convert-journal.csv`` with a fingerprint of the settings and the source
files (path, mtime, size). A rerun skips images whose PNGs exist and whose journal fingerprint
matches. The three CSVs are written atomically only at the end (``manifest.csv`` last), so an
interrupted run never leaves a manifest that looks complete.

Relative ``dicom_path``/``mask_path`` values are resolved against the current directory first,
then against the folder of the CSV that names them. ``png_path``/``mask_png_path`` are written
as ``out_dir / ...`` exactly as ``out_dir`` was given (relative stays relative).

Excluded (listed in ``exclusions.csv``; raised instead with ``strict=True``): a missing,
unreadable or truncated DICOM, an undecodable transfer syntax, multi-frame/colour images, a
constant image (in both intensity modes: nothing to normalise, and no content), an ROI whose
image is excluded or not in ``images.csv``, a duplicate ROI, and a mask without foreground.

Parallelism: ``threads > 1`` runs a ``ProcessPoolExecutor`` on the ``forkserver`` start method
(a forked parent's OpenCV thread pool can hang ``cv2.resize`` in the child), with
``cv2.setNumThreads(1)`` in each worker and at most ``2 * threads`` images in flight. Workers
do not re-run the caller's ``__main__`` (see :func:`_main_hidden`), so unguarded scripts such
as Snakemake ``script:`` files are safe. Outputs do not depend on ``threads``.

No DICOM identifier (PatientName, PatientID, ...) is read into the outputs: PNGs are encoded
with ``cv2.imencode``, which writes no text chunks, and messages name files and image ids only.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from e2e_mammo.errors import ConfigError, DatasetError
from e2e_mammo.preprocess.dicom import read_image_with_info, read_mask

if TYPE_CHECKING:
    import pandas as pd

    from e2e_mammo.exclusions import Exclusion

# pandas (and the modules that import it: exclusions, io) is imported inside the functions
# that run in the parent only, so the worker processes start without it (about 0.3 s less
# start-up per conversion job).

STAGE = "convert"
JOURNAL_NAME = ".convert-journal.csv"
INTENSITY_MODES = ("minmax", "stored")
#: cv2.imencode parameters for the PNGs. OpenCV's defaults (zlib level 1, RLE strategy) are
#: ~3x faster than an explicit IMWRITE_PNG_COMPRESSION=1 (default strategy) at a similar size.
PNG_PARAMS: tuple[int, ...] = ()
#: Let the parent convert images while the pool's workers start (tests switch it off to make
#: every image go through a worker).
CONVERT_WHILE_STARTING = True
#: Bump when the pixels written for the same inputs change, so old journals are not reused.
_ALGORITHM_VERSION = "1"

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
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class ConvertResult:
    """What :func:`convert_dataset` wrote: the manifest, the masks table and the exclusions."""

    manifest: pd.DataFrame
    masks: pd.DataFrame
    exclusions: list[Exclusion]


@dataclass
class _Task:
    """One image and its ROI masks; plain data so it pickles cheaply to a worker."""

    image_id: str
    dicom_path: str
    png_path: str
    size: tuple[int, int]
    intensity: str
    rois: list[tuple[int, str, str]] = field(default_factory=list)  # (roi row, mask, mask png)
    fingerprint: str = ""


# --------------------------------------------------------------------------------------------
# The worker: one image (and its masks) -> PNGs + a small result record
# --------------------------------------------------------------------------------------------


def _encode_png(array: np.ndarray, path: str) -> None:
    """Encode and write a PNG atomically (temporary name in the same folder, then rename)."""
    ok, buf = cv2.imencode(".png", array, list(PNG_PARAMS))
    if not ok:  # pragma: no cover - cv2 only fails on unsupported dtypes
        raise RuntimeError(f"{path}: PNG encoding failed")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(memoryview(buf))
    os.replace(tmp, target)


def _to_uint16(
    image: np.ndarray, size: tuple[int, int], intensity: str
) -> tuple[np.ndarray, float, float]:
    """Resize (INTER_AREA) and map to uint16; returns the PNG array and the full-res min/max."""
    lo, hi, _, _ = cv2.minMaxLoc(image)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("image has non-finite values after the LUTs")
    if hi <= lo:
        raise ValueError(f"constant image (every pixel is {lo:g}); nothing to normalise")
    height, width = size
    if image.dtype != np.float32:
        # stored integers (no LUT applied): stretch at full resolution in one uint16 pass, then
        # average, which halves the memory traffic of the float path (same result within 1/65535)
        if intensity == "minmax":
            image = cv2.normalize(image, None, 0, 65535, cv2.NORM_MINMAX, dtype=cv2.CV_16U)
        return (
            cv2.resize(
                image.astype(np.uint16, copy=False), (width, height), interpolation=cv2.INTER_AREA
            ),
            float(lo),
            float(hi),
        )
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    if intensity == "minmax":
        # INTER_AREA averages, so values stay in [lo, hi]; the clip only guards rounding.
        small = (small - np.float32(lo)) * np.float32(65535.0 / (hi - lo))
    out = np.rint(np.clip(small, 0, 65535, out=small), out=small).astype(np.uint16)
    return out, float(lo), float(hi)


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    height, width = size
    m8 = mask.astype(np.uint8) * np.uint8(255)
    out = cv2.resize(m8, (width, height), interpolation=cv2.INTER_NEAREST)
    if out.any():
        return out, "nearest"
    area = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return np.where(area > 0, np.uint8(255), np.uint8(0)), "area_fallback"


def _convert_one(task: _Task) -> dict[str, Any]:
    """Convert one image and its masks. DatasetErrors become data (they pickle badly)."""
    result: dict[str, Any] = {"image_id": task.image_id, "error": None, "image": {}, "rois": []}
    try:
        image, info = read_image_with_info(task.dicom_path, native=True)
        try:
            png, lo, hi = _to_uint16(image, task.size, task.intensity)
        except ValueError as exc:
            raise DatasetError(task.dicom_path, str(exc)) from None
        del image
        _encode_png(png, task.png_path)
    except DatasetError as exc:
        result["error"] = [exc.path, exc.problem]
        return result
    result["image"] = {
        "orig_rows": info.rows,
        "orig_cols": info.cols,
        "rows": int(png.shape[0]),
        "cols": int(png.shape[1]),
        "intensity_min": lo,
        "intensity_max": hi,
        "photometric": info.photometric,
        "transfer_syntax": info.transfer_syntax,
    }
    for roi_row, mask_path, mask_png in task.rois:
        entry: dict[str, Any] = {"row": roi_row, "error": None, "values": {}}
        try:
            mask = read_mask(mask_path)
            if not mask.any():
                raise DatasetError(mask_path, "mask has no foreground")
            small, method = _resize_mask(mask, task.size)
            _encode_png(small, mask_png)
            entry["values"] = {
                "mask_rows": int(mask.shape[0]),
                "mask_cols": int(mask.shape[1]),
                "image_rows": info.rows,
                "image_cols": info.cols,
                "shape_mismatch": bool(mask.shape != (info.rows, info.cols)),
                "foreground_fraction": float(np.count_nonzero(small)) / small.size,
                "mask_resize": method,
            }
        except DatasetError as exc:
            entry["error"] = [exc.path, exc.problem]
        result["rois"].append(entry)
    return result


def _init_worker() -> None:
    cv2.setNumThreads(1)


# --------------------------------------------------------------------------------------------
# Inputs, fingerprints and the journal
# --------------------------------------------------------------------------------------------


def _resolve(value: str, base: Path) -> str:
    path = Path(value)
    if path.is_absolute() or path.exists() or not (base / path).exists():
        return str(path)
    return str(base / path)


def _safe_name(text: str) -> str:
    name = _SAFE_NAME.sub("_", text.strip())
    return name if name and not name.startswith(".") else f"_{name}"


def _stat_text(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}|missing"
    return f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}"


def _fingerprint(task: _Task) -> str:
    parts = [
        _ALGORITHM_VERSION,
        f"{task.size[0]}x{task.size[1]}",
        task.intensity,
        repr(PNG_PARAMS),
        _stat_text(task.dicom_path),
    ]
    parts += [f"{row}|{_stat_text(mask)}" for row, mask, _ in task.rois]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _load_journal(path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """image_id -> (fingerprint, result) from the journal; the last valid row wins."""
    done: dict[str, tuple[str, dict[str, Any]]] = {}
    if not path.is_file():
        return done
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) != 3 or row[0] == "image_id":
                continue  # header, or a line cut short by an interruption
            try:
                result = json.loads(row[2])
            except ValueError:
                continue
            if isinstance(result, dict) and result.get("image_id") == row[0]:
                done[row[0]] = (row[1], result)
    return done


class _Journal:
    def __init__(self, path: Path) -> None:
        new = not path.is_file() or path.stat().st_size == 0
        self._fh = path.open("a", newline="", encoding="utf-8")
        if not new:
            # Make sure a row cut short by an interruption does not swallow the next one.
            with path.open("rb") as rf:
                rf.seek(-1, os.SEEK_END)
                if rf.read(1) not in (b"\n", b"\r"):
                    self._fh.write("\n")
        self._writer = csv.writer(self._fh)
        if new:
            self._writer.writerow(["image_id", "fingerprint", "result"])
        self._fh.flush()

    def append(self, task: _Task, result: dict[str, Any]) -> None:
        self._writer.writerow([task.image_id, task.fingerprint, json.dumps(result)])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _reusable(task: _Task, entry: tuple[str, dict[str, Any]] | None) -> bool:
    if entry is None or entry[0] != task.fingerprint or entry[1].get("error"):
        return False
    if not Path(task.png_path).is_file():
        return False
    rois = {r["row"]: r for r in entry[1].get("rois", [])}
    for roi_row, _, mask_png in task.rois:
        roi = rois.get(roi_row)
        if roi is None or (not roi.get("error") and not Path(mask_png).is_file()):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Running: in-process or over a process pool, with progress lines
# --------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, total: int, enabled: bool, skipped: int) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self.start = self.last_time = time.monotonic()
        self.step = max(1, total // 20)
        self.next_count = self.step
        if enabled:
            extra = f" ({skipped} already converted, skipped)" if skipped else ""
            print(f"convert: {total} image(s) to convert{extra}", file=sys.stderr, flush=True)

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        if not self.enabled:
            return
        if self.done >= self.next_count or now - self.last_time >= 10 or self.done == self.total:
            rate = self.done / max(now - self.start, 1e-9)
            pct = 100.0 * self.done / max(self.total, 1)
            print(
                f"convert: {self.done}/{self.total} ({pct:.0f}%) {rate:.2f} images/s",
                file=sys.stderr,
                flush=True,
            )
            self.last_time = now
            while self.next_count <= self.done:
                self.next_count += self.step


def _run_serial(tasks: list[_Task]) -> Iterator[tuple[_Task, dict[str, Any]]]:
    for task in tasks:
        yield task, _convert_one(task)


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


def _run_pool(tasks: list[_Task], threads: int) -> Iterator[tuple[_Task, dict[str, Any]]]:
    # forkserver: workers never inherit a parent's OpenCV thread pool (fork can hang in
    # cv2.resize after the parent used it); the preload keeps worker start-up cheap.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["e2e_mammo.preprocess.convert"])
    window = threads * 2  # bounded in-flight work keeps memory flat
    pending: dict[Future[dict[str, Any]], _Task] = {}
    queue = iter(tasks)
    pool = ProcessPoolExecutor(max_workers=threads, mp_context=ctx, initializer=_init_worker)
    try:
        # Workers are started by these first submits (one per submit up to `threads`).
        with _main_hidden():
            for task in queue:
                pending[pool.submit(_convert_one, task)] = task
                if len(pending) >= window:
                    break
        # Starting the workers (a fresh interpreter importing numpy, cv2 and pydicom) takes
        # ~0.5 s; convert from the queue here meanwhile, so start-up overlaps useful work.
        while CONVERT_WHILE_STARTING and not any(future.done() for future in pending):
            task = next(queue, None)
            if task is None:
                break
            yield task, _convert_one(task)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                yield task, future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(_convert_one, nxt)] = nxt
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# The stage
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
        intensity: ``"minmax"`` or ``"stored"`` (see the module docstring).
        strict: raise the first :class:`DatasetError` instead of excluding the item.
        progress: print progress lines on stderr.

    Returns:
        A :class:`ConvertResult` with the frames written to ``manifest.csv``, ``masks.csv`` and
        the exclusions written to ``exclusions.csv``.

    Raises:
        DatasetError: unreadable/invalid CSVs or duplicate image ids; with ``strict``, any
            image or ROI that would have been excluded.
        ConfigError: invalid ``size``, ``threads`` or ``intensity``.
    """
    import pandas as pd

    from e2e_mammo.exclusions import Exclusion, write_exclusions
    from e2e_mammo.io import atomic_write_csv, read_table

    size = _check_args(size, threads, intensity)
    images_csv, out_dir = Path(images_csv), Path(out_dir)
    images = read_table(images_csv, ("image_id", "dicom_path"))
    exclusions: list[Exclusion] = []

    def exclude(item: str, source: str, reason: str) -> None:
        if strict:
            raise DatasetError(source, reason)
        exclusions.append(Exclusion(STAGE, item, source, reason))

    ids = images["image_id"].str.strip()
    names = ids.map(_safe_name)
    for label, series in (("image_id", ids), ("image_id (as a file name)", names)):
        dup = series[series.duplicated(keep=False)]
        if not dup.empty:
            rows = ", ".join(str(i + 2) for i in dup.index[:10])
            raise DatasetError(images_csv, f"duplicate {label} {dup.iloc[0]!r} (lines {rows})")

    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    tasks: dict[str, _Task] = {}
    for image_id, name, dicom in zip(ids, names, images["dicom_path"], strict=True):
        if not dicom.strip():
            continue  # excluded below as "no dicom_path"
        tasks[image_id] = _Task(
            image_id=image_id,
            dicom_path=_resolve(dicom.strip(), images_csv.parent),
            png_path=str(out_dir / "images" / f"{name}.png"),
            size=size,
            intensity=intensity,
        )
    known_ids = set(ids)

    rois = None
    roi_problem: dict[int, tuple[str, str, str]] = {}  # roi row -> (item, source, reason)
    if rois_csv is not None:
        rois_csv = Path(rois_csv)
        rois = read_table(rois_csv, ("image_id", "abnormality_id", "mask_path"))
        (out_dir / "masks").mkdir(parents=True, exist_ok=True)
        seen: set[tuple[str, str]] = set()
        for i, row in enumerate(rois.itertuples(index=False)):
            image_id, abn = str(row.image_id).strip(), str(row.abnormality_id).strip()
            item, where = f"{image_id}_{abn}", f"{rois_csv}:{i + 2}"
            if (image_id, abn) in seen:
                roi_problem[i] = (item, where, "duplicate (image_id, abnormality_id)")
            elif image_id not in known_ids:
                roi_problem[i] = (item, where, f"image {image_id!r} is not in {images_csv}")
            elif not str(row.mask_path).strip():
                roi_problem[i] = (item, where, "no mask_path")
            elif image_id in tasks:
                mask = _resolve(str(row.mask_path).strip(), rois_csv.parent)
                png = out_dir / "masks" / f"{_safe_name(image_id)}_{_safe_name(abn)}.png"
                tasks[image_id].rois.append((i, mask, str(png)))
            seen.add((image_id, abn))

    for task in tasks.values():
        task.fingerprint = _fingerprint(task)

    journal_path = out_dir / JOURNAL_NAME
    previous = _load_journal(journal_path)
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for task in tasks.values():
        if _reusable(task, previous.get(task.image_id)):
            results[task.image_id] = previous[task.image_id][1]
        else:
            todo.append(task)

    # Problems found before any conversion raise in strict mode before work starts.
    for pos, image_id in enumerate(ids):
        if image_id not in tasks:
            exclude(image_id, f"{images_csv}:{pos + 2}", "no dicom_path")
    for i in sorted(roi_problem):
        exclude(*roi_problem[i])

    reporter = _Progress(len(todo), progress, skipped=len(results))
    runner: Callable[[], Iterator[tuple[_Task, dict[str, Any]]]]
    if int(threads) == 1 or len(todo) <= 1:
        runner = lambda: _run_serial(todo)  # noqa: E731
    else:
        runner = lambda: _run_pool(todo, min(int(threads), len(todo)))  # noqa: E731
    journal = _Journal(journal_path)
    stream = runner()
    try:
        for task, result in stream:
            if strict:
                if result["error"]:
                    raise DatasetError(*result["error"])
                for roi in result["rois"]:
                    if roi["error"]:
                        raise DatasetError(*roi["error"])
            if not result["error"]:
                journal.append(task, result)
            results[task.image_id] = result
            reporter.tick()
    finally:
        stream.close()  # shuts the pool down (cancelling queued work) on any error
        journal.close()

    # Assemble the tables in input order.
    manifest_rows: list[dict[str, Any]] = []
    for pos, row in enumerate(images.to_dict("records")):
        image_id = ids.iloc[pos]
        task = tasks.get(image_id)
        if task is None:
            continue
        result = results[image_id]
        if result["error"]:
            exclusions.append(Exclusion(STAGE, image_id, result["error"][0], result["error"][1]))
            continue
        manifest_rows.append({**row, "png_path": task.png_path, **result["image"]})
    manifest = pd.DataFrame(
        manifest_rows,
        columns=list(images.columns) + [c for c in IMAGE_COLUMNS if c not in images.columns],
    )

    mask_rows: list[dict[str, Any]] = []
    if rois is not None:
        roi_png = {r: p for t in tasks.values() for r, _, p in t.rois}
        roi_result = {
            roi["row"]: roi for t in tasks.values() for roi in results[t.image_id]["rois"]
        }
        for i, row in enumerate(rois.to_dict("records")):
            if i in roi_problem:
                continue
            image_id = str(row["image_id"]).strip()
            item = f"{image_id}_{str(row['abnormality_id']).strip()}"
            image_result = results.get(image_id)
            if image_result is None or image_result["error"]:
                why = image_result["error"][1] if image_result else "no dicom_path"
                exclusions.append(
                    Exclusion(STAGE, item, f"{rois_csv}:{i + 2}", f"its image was excluded: {why}")
                )
                continue
            roi = roi_result[i]
            if roi["error"]:
                exclusions.append(Exclusion(STAGE, item, roi["error"][0], roi["error"][1]))
                continue
            mask_rows.append({**row, "mask_png_path": roi_png[i], **roi["values"]})
    mask_columns = list(rois.columns) if rois is not None else []
    masks = pd.DataFrame(
        mask_rows, columns=mask_columns + [c for c in MASK_COLUMNS if c not in mask_columns]
    )

    atomic_write_csv(masks, out_dir / "masks.csv")
    write_exclusions(exclusions, out_dir / "exclusions.csv")
    atomic_write_csv(manifest, out_dir / "manifest.csv")
    if progress:
        print(
            f"convert: wrote {len(manifest)} image(s), {len(masks)} mask(s), "
            f"{len(exclusions)} exclusion(s) to {out_dir}",
            file=sys.stderr,
            flush=True,
        )
    return ConvertResult(manifest=manifest, masks=masks, exclusions=exclusions)


__all__ = [
    "IMAGE_COLUMNS",
    "INTENSITY_MODES",
    "MASK_COLUMNS",
    "ConvertResult",
    "convert_dataset",
]
