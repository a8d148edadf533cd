"""What DVC compares between commits and experiments: the tables' numbers as metrics JSON and the
curves as plot CSVs (``dvc metrics show/diff``, ``dvc plots show/diff``, ``dvc exp show``).

* ``results/metrics/<table>.json``: ``{row: {metric: value}}`` for the rows that ran (a row that
  did not run has no numbers to compare); non-finite values are left out.
* ``results/plots/roc/<dataset>.csv``: the ensemble's ROC on its evaluated split.
* ``results/plots/loss/<row>.csv``: a whole-image row's loss per epoch (Fig 2's curves).
* ``results/plots/table4/<init>-<model>.csv``: validation AUC against training patients.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from e2e_mammo.io import atomic_write_bytes

#: The numbers of each table that DVC compares (columns of its CSV).
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "table1": ("test_accuracy", "best_epoch"),
    "table2": ("auc", "auc_ci_low", "auc_ci_high", "a_auc", "best_epoch"),
    "table3": ("auc", "auc_ci_low", "auc_ci_high", "a_auc", "best_epoch"),
    "ensemble": ("auc", "ci_low", "ci_high", "sensitivity", "specificity", "threshold"),
    "localisation": ("hit_rate", "ci_low", "ci_high", "chance_rate"),
}
SWEEP_METRICS = ("auc", "ci_low", "ci_high", "n_patients")
SWEEP_COLUMNS = ("size", *SWEEP_METRICS)
LOSS_COLUMNS = ("epoch", "train_loss", "val_loss")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _row_numbers(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, float]:
    numbers = {c: _number(row.get(c)) for c in columns}
    return {c: v for c, v in numbers.items() if v is not None}


def table_metrics(frame: pd.DataFrame, columns: Iterable[str], key: str = "row") -> dict:
    """``{row: {column: value}}`` of the rows with ``status == "ok"`` (every row when the frame
    has no status), finite numbers only."""
    columns = tuple(columns)
    ran = frame[frame["status"] == "ok"] if "status" in frame else frame
    return {str(row[key]): _row_numbers(row, columns) for row in ran.to_dict("records")}


def sweep_metrics(frame: pd.DataFrame) -> dict:
    """Table 4 as ``{"<init>/<model>/n<size>": {auc, ci_low, ci_high, n_patients}}``: the mean
    over the seeds that ran, with ``n_seeds``."""
    ran = frame[frame["status"] == "ok"]
    out = {}
    for (init, model, size), cells in ran.groupby(["init", "model", "size"], sort=False):
        means = {c: pd.to_numeric(cells[c], errors="coerce").mean() for c in SWEEP_METRICS}
        numbers = _row_numbers(means, SWEEP_METRICS)
        out[f"{init}/{model}/n{size}"] = {**numbers, "n_seeds": len(cells)}
    return out


def write_metrics(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Write a metrics JSON atomically (sorted keys, so diffs between commits stay small)."""
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    return atomic_write_bytes(text.encode(), path)


def roc_points(labels: Iterable[int], scores: Iterable[float]) -> pd.DataFrame:
    """The ROC curve's points (``fpr``, ``tpr``, ``threshold``); empty with one class."""
    labels = np.asarray(list(labels), dtype=int)
    scores = np.asarray(list(scores), dtype=float)
    if len(np.unique(labels)) < 2:
        return pd.DataFrame(columns=["fpr", "tpr", "threshold"])
    fpr, tpr, thresholds = roc_curve(labels, scores)
    thresholds = np.minimum(thresholds, 1.0)  # sklearn's first point is +inf
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def loss_curve(history: pd.DataFrame) -> pd.DataFrame:
    """A training history's loss per epoch (``val_loss`` empty where nothing was scored)."""
    frame = history.reindex(columns=list(LOSS_COLUMNS))
    return frame.astype({"epoch": int})


def sweep_points(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Table 4 per model column (``<init>-<model>``): the seeds' mean AUC and interval at each
    size that ran, by training patients."""
    ran = frame[frame["status"] == "ok"].copy()
    for column in SWEEP_METRICS:
        ran[column] = pd.to_numeric(ran[column], errors="coerce")
    out = {}
    for (init, model), cells in ran.groupby(["init", "model"], sort=False):
        means = cells.groupby("size", sort=False)[list(SWEEP_METRICS)].mean().reset_index()
        out[f"{init}-{model}"] = means.sort_values("n_patients").reset_index(drop=True)
    return out
