"""Small file helpers shared by the stages: reading a stage's input table with clear errors, and
atomic writes so that no partial output looks complete.

pandas is imported inside the functions: the conversion workers import this module and start
faster without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from e2e_mammo.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: str | Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a stage's CSV (every value as text, empty cells as ``""``).

    Raises :class:`DatasetError` naming the file when it is missing, unreadable or lacks any of
    the ``required`` columns.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad input file
        raise DatasetError(path, f"unreadable CSV: {type(exc).__name__}: {exc}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(path, f"missing column(s) {', '.join(missing)}")
    return frame


def atomic_write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def atomic_write_bytes(data: bytes, path: str | Path) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
