"""Logging for Snakemake jobs: everything a job prints goes to the rule's ``log:`` file."""

from __future__ import annotations

import logging
import sys
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
