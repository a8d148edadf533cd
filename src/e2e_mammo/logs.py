"""Logging for jobs and one progress reporter for long work.

* :func:`log_to_file`: everything a Snakemake job prints goes to the rule's ``log:`` file.
* :class:`Progress`: "what: done/total (pct%) rate unit/s" lines on stderr, about every 5 % of
  the work or every 10 s, whichever comes first; silent when disabled.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TextIO


def log_to_file(path: str | Path) -> TextIO:
    """Send the root logger and ``sys.stderr`` (progress lines) to ``path`` (appending).

    Returns the open stream; it stays open for the life of the job process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream,
        force=True,
    )
    return stream


class Progress:
    """Progress lines for ``total`` items of work labelled ``label`` (e.g. ``"convert"``).

    ``tick(n)`` counts ``n`` more items done; a line is printed when another ~5 % is done,
    10 s have passed, or the work is complete. ``note`` adds a one-off line (skipped work).
    """

    def __init__(self, label: str, total: int, unit: str = "images", enabled: bool = True) -> None:
        self.label, self.total, self.unit, self.enabled = label, max(int(total), 0), unit, enabled
        self.done = 0
        self.start = self.last_time = time.monotonic()
        self.step = max(1, self.total // 20)
        self.next_count = self.step

    def note(self, message: str) -> None:
        """Print ``label: message`` (when enabled)."""
        if self.enabled:
            print(f"{self.label}: {message}", file=sys.stderr, flush=True)

    def tick(self, n: int = 1) -> None:
        """Count ``n`` items done and print a line when due."""
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        due = self.done >= self.next_count or now - self.last_time >= 10
        if due or self.done == self.total:
            rate = self.done / max(now - self.start, 1e-9)
            pct = 100.0 * self.done / max(self.total, 1)
            self.note(f"{self.done}/{self.total} ({pct:.0f}%) {rate:.2f} {self.unit}/s")
            self.last_time = now
            while self.next_count <= self.done:
                self.next_count += self.step
