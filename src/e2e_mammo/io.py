"""Small file helpers shared by the stages: reading a stage's input table with clear errors, and
atomic writes so that no partial output looks complete.

pandas is imported inside the functions: the conversion workers import this module and start
faster without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from e2e_mammo.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd


def read_table(path: str | Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a stage's CSV (every value as text, empty cells as ``""``, the spreadsheet escape
    of :func:`atomic_write_csv` undone).

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
    for column in frame.columns:
        frame[column] = frame[column].map(unescape_cell)
    return frame


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The one atomic-write mechanism of the package: whatever is written to the yielded path
    (by pandas, OpenCV, numpy, pydicom or torch) appears at ``path`` complete or not at all.
    The temporary name starts with a dot and ends in ``.tmp`` (unique per call, in the same
    folder so the rename is atomic); it is removed on failure. ``fsync`` flushes the file to
    disk before the rename (checkpoints).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have given
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], object], fsync: bool = False) -> Path:
    """Call ``write(tmp_path)`` and atomically rename the result to ``path`` (see
    :func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        write(tmp)
    return Path(path)


#: First characters that make a spreadsheet read a cell as a formula (OWASP's CSV injection
#: list), and the escape character itself (so that unescaping is exact).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def escape_cell(value: object) -> object:
    """``value`` made safe for a spreadsheet: a text cell starting with ``= + - @``, a tab, a
    carriage return or ``'`` gets a leading ``'`` (spreadsheets show the rest as text); a signed
    number (``-0.5``) is left alone. Anything but text is returned as it is."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if value[0] in "+-" and _is_number(value):
        return value
    return "'" + value


def unescape_cell(value: object) -> object:
    """The inverse of :func:`escape_cell` (a ``'`` before a formula start is dropped)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'":
        if value[1:].startswith(FORMULA_STARTS):
            return value[1:]
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells went through :func:`escape_cell`."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("str"):
            out[column] = out[column].map(escape_cell)
    return out


def atomic_write_csv(frame: pd.DataFrame, path: str | Path, safe: bool = False) -> Path:
    """Write ``frame`` to ``path`` through a temporary file and an atomic rename; ``safe``
    escapes cells a spreadsheet would run as formulas (:func:`escape_cell`): for every table
    that holds names from outside (file names, dataset IDs, reasons quoting them).
    :func:`read_table` undoes the escape."""
    if safe:
        frame = spreadsheet_safe(frame)
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def atomic_write_bytes(data: bytes, path: str | Path) -> Path:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(obj: object, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON (trailing newline) through :func:`atomic_write`."""
    import json

    return atomic_write_bytes((json.dumps(obj, indent=2) + "\n").encode(), path)
