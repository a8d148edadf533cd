"""Resuming ``e2e-mammo predict``: a journal of the inputs an output folder has seen.

Each input gets JSON lines in ``<out>/.predict-journal.jsonl``, flushed as they are written:
``started`` before it is decoded, then its table row once scored, or ``failed``. The key
hashes the bundle file's path, size and modification time, the options that change a score,
and the input's path (its bytes, whatever their encoding), size and modification time. A rerun
into the same folder:

* reuses an input whose key is unchanged, whose last entry is its row and whose heatmap is
  still there; anything else is scored again, failures included (they are retried);
* skips an input whose last entry is ``started``: the process died on it (killed for memory,
  say), so it would die again; it is listed in ``failures.csv`` saying so, and
  ``--retry-crashed`` tries it once more.

The journal holds no header value: a resumed DICOM's study (which groups exams) is read again
from its header.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_NAME = ".predict-journal.jsonl"


def _stat(path: Path) -> bytes:
    info = path.stat()
    return os.fsencode(path.resolve()) + f"|{info.st_size}|{info.st_mtime_ns}".encode()


def run_key(bundle: Path, options: Mapping[str, Any]) -> str:
    """What every image's key shares: the bundle file and the score-changing options."""
    digest = hashlib.sha256(_stat(bundle))
    digest.update(json.dumps(dict(options), sort_keys=True).encode())
    return digest.hexdigest()


def image_key(run: str, image: Path) -> str:
    """The key of one input image under ``run`` (:func:`run_key`); stats the file, so a file
    that is gone raises ``OSError``."""
    return hashlib.sha256(run.encode() + b"|" + _stat(image)).hexdigest()


@dataclass
class Seen:
    """What the journal of an output folder says: rows of the inputs scored (key -> entry with
    ``row``) and the keys of inputs a run died on (last entry ``started``)."""

    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    crashed: set[str] = field(default_factory=set)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.done.get(key)


def load_journal(out_dir: Path) -> Seen:
    """The journal of ``out_dir`` (the last entry of each key wins; a torn last line from an
    interrupted run is skipped)."""
    path = out_dir / JOURNAL_NAME
    last: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
                last[entry["key"]] = entry
            except (ValueError, KeyError, TypeError):
                continue
    seen = Seen()
    for key, entry in last.items():
        if "row" in entry:
            seen.done[key] = entry
        elif "started" in entry:
            seen.crashed.add(key)
    return seen


class Journal:
    """Appends entries to the journal of ``out_dir``, one flushed line each."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.handle = (out_dir / JOURNAL_NAME).open("a")

    def _write(self, entry: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps(dict(entry)) + "\n")
        self.handle.flush()

    def start(self, key: str, image_index: str) -> None:
        """Say that the input ``key`` is about to be decoded (before anything can crash)."""
        self._write({"key": key, "started": image_index})

    def append(self, key: str, row: Mapping[str, Any]) -> None:
        """Record the scored input's row."""
        self._write({"key": key, "row": dict(row)})

    def failed(self, key: str) -> None:
        """Record that the input failed cleanly (retried by a rerun, not taken for a crash)."""
        self._write({"key": key, "failed": True})

    def close(self) -> None:
        self.handle.close()
