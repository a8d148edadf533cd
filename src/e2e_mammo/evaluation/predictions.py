"""Per-sample predictions of a trained model, saved once for every split.

Ensembles, ROC curves and bootstrap intervals read these tables and never rerun a model. One
row per sample: ``split``, the sample's ``row`` in its split's index table, the caller's id
columns (``image_id``, ``patient_id``, ...), ``label``, ``prob_<class>`` for every class and,
with flip TTA, ``tta_prob_<class>``.

The id columns are the dataset's own names, so the table is written spreadsheet-safe
(:func:`write_predictions`, ``safe=True`` of :func:`e2e_mammo.io.atomic_write_csv`) and read
with the escape undone (:func:`read_predictions`): an id read back equals the one written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from e2e_mammo.io import atomic_write_csv, unescape_cell

#: Columns the table sets itself; an id table's own columns of these names are dropped.
RESERVED = ("split", "row", "label")
#: Id columns read as text (an INbreast File Name must keep its digits as written).
ID_TYPES = {"image_id": str, "patient_id": str}


def prediction_frame(
    split: str,
    evaluation: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    ids: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The predictions of one split from :func:`e2e_mammo.training.loop.evaluate`'s output.

    ``ids`` (optional) is the split's index table; its rows are picked by ``evaluation["index"]``
    (its own ``split``, ``row`` and ``label`` columns give way to the table's).
    """
    index = np.asarray(evaluation["index"])
    frame = pd.DataFrame({"split": split, "row": index})
    if ids is not None:
        picked = ids.iloc[index].reset_index(drop=True)
        picked = picked.drop(columns=[c for c in RESERVED if c in picked.columns])
        frame = pd.concat([frame, picked], axis=1)
    frame["label"] = np.asarray(evaluation["labels"])
    for prefix, key in (("prob", "probs"), ("tta_prob", "tta_probs")):
        if evaluation.get(key) is not None and len(index):
            for k, name in enumerate(class_names):
                frame[f"{prefix}_{name}"] = np.asarray(evaluation[key])[:, k]
    return frame


def write_predictions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a predictions table atomically and spreadsheet-safe."""
    return atomic_write_csv(frame, path, safe=True)


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A predictions table written by :func:`write_predictions` (ids as text, the spreadsheet
    escape undone; other columns typed as pandas reads them)."""
    return pd.read_csv(path, dtype=ID_TYPES).map(unescape_cell)
