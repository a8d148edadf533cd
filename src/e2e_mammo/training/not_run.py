"""Rows that do not train: their ``result.json`` and one MLflow run each, saying why and which
switch trains them (Table 1 rows without their ImageNet weights, Table 2/3 rows left out of the
demo). Torch-free: these jobs only write a record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from e2e_mammo.io import atomic_write_json
from e2e_mammo.plan.patch_rows import choose_pretrained, paper_label
from e2e_mammo.provenance import git_commit
from e2e_mammo.tracking import TrackingConfig, start_run

log = logging.getLogger(__name__)


def record_row_not_run(
    row: Mapping[str, Any],
    pretrained: Mapping[str, Any],
    out_dir: Path,
    tracking: TrackingConfig,
    left_out: str = "",
) -> dict:
    """``result.json`` (and one MLflow run) for a Table 1 row that does not train, with why:
    ``left_out`` (the demo leaves it out: ``not in demo``) or its missing ImageNet weights."""
    if left_out:
        status, label, reason = "not in demo", paper_label(row), left_out
    else:
        choice = choose_pretrained(row, pretrained)
        status, label, reason = "not run", choice.label, choice.skip_reason or "not run"
    log.warning("row %s %s: %s", row["row"], status, reason)
    tags = {
        "table": "1",
        "row": row["row"],
        "stage": "patch",
        "status": status,
        "git_commit": git_commit(),
    }
    with start_run(tracking, f"table1/{row['row']}", tags=tags) as run:
        run.log_params(
            {
                "arch": row["arch"],
                "patch_set": row["patch_set"],
                "pretrained": label,
                "note": reason,
            }
        )
    result = {
        "row": row["row"],
        "arch": row["arch"],
        "patch_set": row["patch_set"],
        "pretrained_label": label,
        "status": status,
        "note": reason,
        "mlflow_run_id": run.run_id,
    }
    atomic_write_json(result, out_dir / "result.json")
    return result


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
