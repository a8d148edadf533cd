"""The members of an ensemble, read from its ``summary.json`` (torch- and sklearn-free: the
workflow's parse reads them after the ensemble checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path


def read_members(summary_json: Path) -> list[str]:
    """The members named in an ensemble's ``summary.json``, best first."""
    return json.loads(Path(summary_json).read_text())["members"].split(";")
