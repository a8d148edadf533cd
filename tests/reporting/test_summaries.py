"""The tables' numbers as DVC metrics and the curves as DVC plot data."""

import json

import numpy as np
import pandas as pd

from e2e_mammo.reporting.summaries import (
    loss_curve,
    roc_points,
    sweep_metrics,
    sweep_points,
    table_metrics,
    write_metrics,
)


def test_table_metrics_keep_rows_that_ran_and_finite_numbers():
    frame = pd.DataFrame(
        {
            "row": ["a", "b", "c"],
            "status": ["ok", "not run", "ok"],
            "auc": [0.7, np.nan, 0.6],
            "a_auc": [0.72, np.nan, np.nan],
        }
    )
    assert table_metrics(frame, ["auc", "a_auc"]) == {
        "a": {"auc": 0.7, "a_auc": 0.72},
        "c": {"auc": 0.6},
    }


def test_table_metrics_key_by_another_column():
    frame = pd.DataFrame({"dataset": ["cbis-ddsm"], "auc": [0.8]})
    assert table_metrics(frame, ["auc"], key="dataset") == {"cbis-ddsm": {"auc": 0.8}}


def _sweep():
    return pd.DataFrame(
        {
            "size": ["20", "20", "40", "all"],
            "init": ["whole_image"] * 4,
            "model": ["m"] * 4,
            "seed": [1, 2, 1, 1],
            "status": ["ok", "ok", "ok", "not in demo"],
            "n_patients": [16, 16, 31, np.nan],
            "auc": [0.6, 0.8, 0.75, np.nan],
            "ci_low": [0.5, 0.7, 0.65, np.nan],
            "ci_high": [0.7, 0.9, 0.85, np.nan],
        }
    )


def test_sweep_metrics_average_the_seeds_of_each_cell():
    metrics = sweep_metrics(_sweep())
    assert set(metrics) == {"whole_image/m/n20", "whole_image/m/n40"}
    assert metrics["whole_image/m/n20"]["auc"] == 0.7
    assert metrics["whole_image/m/n20"]["n_seeds"] == 2


def test_sweep_points_give_one_curve_per_model_by_patients():
    points = sweep_points(_sweep())
    assert list(points) == ["whole_image-m"]
    curve = points["whole_image-m"]
    assert list(curve["n_patients"]) == [16, 31]
    assert list(curve["auc"]) == [0.7, 0.75]


def test_roc_points_run_from_origin_to_corner():
    points = roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert (points.iloc[0][["fpr", "tpr"]] == 0).all()
    assert (points.iloc[-1][["fpr", "tpr"]] == 1).all()
    assert points["threshold"].max() <= 1.0


def test_roc_points_of_one_class_are_empty():
    assert roc_points([1, 1], [0.2, 0.3]).empty


def test_loss_curve_keeps_epoch_and_losses():
    history = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [0.9, 0.7], "val_loss": [1.0, 0.8], "lr": [1e-4] * 2}
    )
    assert list(loss_curve(history).columns) == ["epoch", "train_loss", "val_loss"]


def test_write_metrics_sorts_keys(tmp_path):
    path = write_metrics({"b": {"auc": 0.5}, "a": {"auc": 0.6}}, tmp_path / "m.json")
    assert list(json.loads(path.read_text())) == ["a", "b"]
