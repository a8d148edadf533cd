"""Which epoch's weights a run keeps: the monitor.

* ``val_accuracy``: the highest validation accuracy (the authors' patch classifiers);
* ``val_auc``: the highest validation ROC AUC (their whole-image classifiers);
* ``last``: no choice at all, the last epoch of a fixed schedule (for INbreast, where the set
  that is reported must not choose anything).

Ties keep the earlier epoch. A ``nan`` score (e.g. an AUC on a one-class validation set) never
counts as an improvement.
"""

from __future__ import annotations

import math
from typing import Any

MONITORS = ("val_accuracy", "val_auc", "last")


def check_monitor(name: str) -> str:
    """``name`` if it is a known monitor, else a ``ValueError`` listing them."""
    if name not in MONITORS:
        raise ValueError(f"monitor must be one of {MONITORS}, got {name!r}")
    return name


def monitor_score(name: str, record: dict[str, Any]) -> float:
    """The score of an epoch's history record under monitor ``name`` (higher is better)."""
    if check_monitor(name) == "last":
        return float(record["epoch"])
    return float(record[name])


def improves(score: float, best: float) -> bool:
    """Whether ``score`` beats ``best`` (strictly; ``nan`` never does)."""
    return not math.isnan(score) and (math.isnan(best) or score > best)
