"""The exclusions report: every CSV row or file a stage leaves out, with the reason.

Nothing is dropped silently: a stage collects :class:`Exclusion` records while it works and
writes them with :func:`write_exclusions` next to its main output (``exclusions.csv``).

Items and reasons quote names from outside (file names, dataset IDs), so the report is written
spreadsheet-safe (:func:`e2e_mammo.io.escape_cell`: a cell starting with ``=`` opens as text,
not as a formula) and :func:`read_exclusions` undoes the escape, so a round trip is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd

from e2e_mammo.io import atomic_write_csv, read_table

COLUMNS = ("stage", "item", "source", "reason")


@dataclass(frozen=True)
class Exclusion:
    """One thing left out.

    Attributes:
        stage: the stage that left it out (``index``, ``convert``, ``split``, ...).
        item: what was left out, in the dataset's own anonymised IDs (image_id, ROI id or CSV row).
        source: the file (and row, ``path:row``) the item came from.
        reason: why, in words a user can act on.
    """

    stage: str
    item: str
    source: str
    reason: str


def write_exclusions(rows: Iterable[Exclusion], path: str | Path) -> pd.DataFrame:
    """Write exclusions to ``path`` as a spreadsheet-safe CSV (header always present, even
    when empty)."""
    frame = pd.DataFrame([asdict(r) for r in rows], columns=list(COLUMNS))
    atomic_write_csv(frame, path, safe=True)
    return frame


def read_exclusions(path: str | Path) -> list[Exclusion]:
    """Read an exclusions CSV written by :func:`write_exclusions` (the spreadsheet escape
    undone; raises :class:`~e2e_mammo.errors.DatasetError` naming a missing or bad file)."""
    frame = read_table(path, COLUMNS)
    names = [f.name for f in fields(Exclusion)]
    return [Exclusion(**{n: row[n] for n in names}) for _, row in frame.iterrows()]
