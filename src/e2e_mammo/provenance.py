"""Where a result came from: the checkout's commit and a file's content hash.

Low-level helpers shared by the model bundles (which record them) and the MLflow tracking
(which tags runs with them); neither needs the other to know them.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def git_commit(cwd: str | Path = ".") -> str:
    """The checkout's commit (``+dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    """The MD5 of a file's bytes: the content hash DVC keeps it under in its cache."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
