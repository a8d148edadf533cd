"""Which Table 2/3 rows run, on which patch classifier, and the record of a row that does not.

* The patch classifier under a row is the Table 1 row of the same architecture and patch set:
  the ImageNet-pretrained one (the paper's) when it trained here, else the random-init one
  (the demo, which has no ImageNet weights; the tables say so).
* ``whole_image.rows`` lists the rows that train (the demo's choice) or is ``all`` (the paper
  profile). Any other row is listed in its table as ``not in demo`` with the switch that runs
  it; a row whose patch classifier did not train is ``not run`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_mammo.io import atomic_write_json
from e2e_mammo.models.top_layers import describe_top
from e2e_mammo.tracking import TrackingConfig, git_commit, start_run
from e2e_mammo.training.whole_run import row_section

log = logging.getLogger(__name__)
#: The one switch that trains every row (README "The paper profile").
PAPER_SWITCH = "snakemake all --profile profiles/paper (or whole_image.rows: all)"


@dataclass(frozen=True)
class PatchChoice:
    """The Table 1 row a whole-image row builds on, and how Tables 2/3 describe it."""

    row: str | None
    label: str  # how it was initialised, e.g. "random init; paper: ImageNet"
    reason: str = ""  # why there is none


def choose_patch_row(
    table1: Iterable[Mapping[str, Any]], trained: Sequence[str], arch: str, patch_set: str
) -> PatchChoice:
    """The trained Table 1 row of ``arch`` and ``patch_set``, ImageNet-pretrained first."""
    rows = [r for r in table1 if r["arch"] == arch and r["patch_set"] == patch_set]
    ready = [r for r in rows if r["row"] in trained]
    ready.sort(key=lambda r: r["pretrained"] != "imagenet")
    if not ready:
        names = [r["row"] for r in rows] or [f"{arch} {patch_set} (none configured in table1)"]
        return PatchChoice(None, "", f"no trained patch classifier among {names}")
    row = ready[0]
    if row["pretrained"] == "imagenet":
        return PatchChoice(row["row"], "ImageNet-pretrained, as the paper")
    return PatchChoice(row["row"], "random init; paper: ImageNet")


def row_status(row: Mapping[str, Any], selected: Sequence[str] | str, choice: PatchChoice) -> str:
    """``ok`` (trains), ``not in demo`` or ``not run`` (no patch classifier)."""
    if selected != "all" and row["row"] not in selected:
        return "not in demo"
    return "ok" if choice.row is not None else "not run"


def row_meta(row: Mapping[str, Any], table: int, choice: PatchChoice) -> dict[str, Any]:
    """The descriptive fields of a row's ``result.json`` (never part of its training)."""
    top = row["top"]
    cells = {} if top["type"] == "two_step" else describe_top(top)
    return {
        "table": table,
        "section": row_section(top),
        "cells": cells,
        "patch_model": choice.row,
        "patch_init": choice.label,
    }


def record_not_run(
    row: Mapping[str, Any],
    meta: Mapping[str, Any],
    status: str,
    reason: str,
    out_dir: Path,
    tracking: TrackingConfig,
) -> dict[str, Any]:
    """``result.json`` (and one MLflow run) of a row that does not train, with why and how."""
    log.warning("row %s %s: %s", row["row"], status, reason)
    tags = {
        "table": str(meta.get("table", "")),
        "row": row["row"],
        "stage": "whole_image",
        "status": status,
        "git_commit": git_commit(),
    }
    with start_run(tracking, f"table{meta.get('table', '')}/{row['row']}", tags=tags) as run:
        run.log_params({"arch": row["arch"], "patch_set": row["patch_set"], "note": reason})
    result = {
        "row": row["row"],
        "arch": row["arch"],
        "patch_set": row["patch_set"],
        **meta,
        "status": status,
        "note": reason,
        "mlflow_run_id": run.run_id,
    }
    atomic_write_json(result, out_dir / "result.json")
    return result


def not_run_reason(status: str, choice: PatchChoice) -> str:
    """What Tables 2/3 say of a row that did not train."""
    if status == "not in demo":
        return f"not trained by the demo; to train it: {PAPER_SWITCH}"
    return choice.reason
