"""Resuming the convert stage: the journal of finished images and their fingerprints.

Once an image's PNGs (image and masks, each written atomically) are in place, a row
``image_id, fingerprint, result`` is appended to ``.convert-journal.csv`` and flushed. The
fingerprint hashes the settings (size, intensity, PNG parameters, :data:`ALGORITHM_VERSION`)
and the source files (path, mtime, size). A rerun reuses an image when its journal row has the
same fingerprint and all its PNGs exist (:func:`reusable`), so a run killed at any point
resumes exactly where it stopped, without redoing finished images.

The journal is append-only on purpose, the one output not written through
:func:`e2e_mammo.io.atomic_path`: rewriting it atomically after every image would cost
quadratic time, and an appended row is itself the commit record of an image. A row cut short
by a kill is ignored when read (:func:`load_journal`) and never joins the next row
(:class:`Journal` starts on a new line).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from e2e_mammo.preprocess.convert.worker import PNG_PARAMS, ImageTask, Record

#: File name of the journal inside the stage's output folder.
JOURNAL_NAME = ".convert-journal.csv"
#: Bump when the pixels written for the same inputs change, so old journals are not reused.
ALGORITHM_VERSION = "1"


def _stat_text(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}|missing"
    return f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}"


def fingerprint(task: ImageTask) -> str:
    """SHA-256 of the settings and the source files (path, mtime, size) of ``task``."""
    parts = [
        ALGORITHM_VERSION,
        f"{task.size[0]}x{task.size[1]}",
        task.intensity,
        repr(PNG_PARAMS),
        _stat_text(task.dicom_path),
    ]
    parts += [f"{row}|{_stat_text(mask)}" for row, mask, _ in task.rois]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def load_journal(path: Path) -> dict[str, tuple[str, Record]]:
    """image_id -> (fingerprint, result) from the journal; the last valid row wins."""
    done: dict[str, tuple[str, Record]] = {}
    if not path.is_file():
        return done
    with path.open(newline="", encoding="utf-8") as fh:
        for line in fh:
            # one row per line (the JSON has no raw newline), so a row cut short inside its
            # quoted JSON cannot swallow the rows after it
            row = next(csv.reader([line]), [])
            if len(row) != 3 or row[0] == "image_id":
                continue  # header, or a line cut short by an interruption
            try:
                result = json.loads(row[2])
            except ValueError:
                continue
            if isinstance(result, dict) and result.get("image_id") == row[0]:
                done[row[0]] = (row[1], result)
    return done


class Journal:
    """The journal opened for appending (header written when new)."""

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

    def append(self, task: ImageTask, result: Record) -> None:
        """Record ``task`` as finished (call once its PNGs are written)."""
        self._writer.writerow([task.image_id, task.fingerprint, json.dumps(result)])
        self._fh.flush()

    def close(self) -> None:
        """Close the journal file."""
        self._fh.close()


def reusable(task: ImageTask, entry: tuple[str, Record] | None) -> bool:
    """Whether a journal ``entry`` still stands for ``task``: same fingerprint, no error, and
    the image PNG and every mask PNG it wrote still exist."""
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


__all__ = [
    "ALGORITHM_VERSION",
    "JOURNAL_NAME",
    "Journal",
    "fingerprint",
    "load_journal",
    "reusable",
]
