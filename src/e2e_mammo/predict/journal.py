"""Resuming ``e2e-mammo predict``: a journal of the images already scored into an output folder.

Each scored image appends one JSON line to ``<out>/.predict-journal.jsonl``: its key (the
bundle file's path, size and modification time, the options that change a score, and the
input's path, size and modification time) and its table row. A rerun into the same folder skips
an image whose key is unchanged and whose heatmap is still there; anything else is scored again.
Failures are never journaled, so they are retried. The journal holds no header value: a
resumed DICOM's study (which groups exams) is read again from its header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JOURNAL_NAME = ".predict-journal.jsonl"


def _stat(path: Path) -> str:
    info = path.stat()
    return f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}"


def run_key(bundle: Path, options: Mapping[str, Any]) -> str:
    """What every image's key shares: the bundle file and the score-changing options."""
    return f"{_stat(bundle)}|{json.dumps(dict(options), sort_keys=True)}"


def image_key(run: str, image: Path) -> str:
    """The key of one input image under ``run`` (:func:`run_key`)."""
    return hashlib.sha256(f"{run}|{_stat(image)}".encode()).hexdigest()


def load_journal(out_dir: Path) -> dict[str, dict[str, Any]]:
    """key -> entry (``key``, ``row``) of the images an earlier run scored (last one wins;
    a torn last line from an interrupted run is skipped)."""
    path = out_dir / JOURNAL_NAME
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            done[entry["key"]] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return done


class Journal:
    """Appends entries to the journal of ``out_dir``, one flushed line per image."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.handle = (out_dir / JOURNAL_NAME).open("a")

    def append(self, key: str, row: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps({"key": key, "row": dict(row)}) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
