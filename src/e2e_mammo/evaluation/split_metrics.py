"""The AUCs a Table 2/3 row or a Table 4 cell reports of its prediction table.

Each split's AUC of the plain score (``prob_malignant``) and of the flip-augmented one (A-AUC,
``tta_prob_malignant``), the test split's with a 95% patient-level bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from e2e_mammo.evaluation.bootstrap import prediction_auc

#: The prediction table's score columns: the plain and the flip-augmented malignant probability.
SCORE, A_SCORE = "prob_malignant", "tta_prob_malignant"


def split_metrics(predictions: pd.DataFrame, bootstrap: Mapping[str, Any]) -> dict[str, Any]:
    """AUC and A-AUC of every split with 95% patient-level bootstrap intervals (test) and the
    validation AUCs (``val_auc``, ``val_a_auc``) that choose ensemble members."""
    out: dict[str, Any] = {}
    for split in ("val", "test"):
        part = predictions[predictions["split"] == split]
        for name, column in (("auc", SCORE), ("a_auc", A_SCORE)):
            if part.empty or column not in part:
                out[f"{split}_{name}"] = None
                continue
            stats = prediction_auc(part, column, int(bootstrap["n_boot"]), int(bootstrap["seed"]))
            out[f"{split}_{name}"] = stats["auc"]
            if split == "test":
                out[f"test_{name}_ci"] = [stats["ci_low"], stats["ci_high"]]
    return out


def metric_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """What MLflow logs of :func:`split_metrics`: the AUCs and the test intervals' bounds as
    scalars (keys alike across rows, so the compare view lines them up), ``None`` left out."""
    scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
    for name in ("auc", "a_auc"):
        low, high = metrics.get(f"test_{name}_ci") or (None, None)
        scalars.update({f"test_{name}_ci_low": low, f"test_{name}_ci_high": high})
    return {k: v for k, v in scalars.items() if v is not None}
