"""Predict's tables (the meta-repository's columns) and heatmap overlays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.predict.outputs import (
    breast_table,
    heatmap_name,
    overlay,
    write_tables,
)


def _row(index, exam, side, score):
    return {
        "image_index": index,
        "file": f"{index}.png",
        "exam": exam,
        "laterality": side,
        "view": "CC",
        "malignant_pred": score,
        "heatmap": "",
        "heatmap_max": 0.0,
    }


def test_breast_score_is_the_mean_over_the_breasts_views():
    images = pd.DataFrame(
        [
            _row("1_L_CC", "1", "L", 0.2),
            _row("1_L_MLO", "1", "L", 0.4),
            _row("1_R_CC", "1", "R", 0.9),
            _row("x", "2", "", 0.5),
        ]
    )
    table = breast_table(images)
    assert table.to_dict("records") == [
        {
            "exam": "1",
            "left_malignant": pytest.approx(0.3),
            "right_malignant": 0.9,
            "n_left": 2,
            "n_right": 1,
        }
    ]


def test_a_missing_side_is_empty():
    table = breast_table(pd.DataFrame([_row("2_R_CC", "2", "R", 0.7)]))
    assert np.isnan(table["left_malignant"].iloc[0]) and table["n_left"].iloc[0] == 0


def test_no_breast_table_without_laterality_and_a_stale_one_is_removed(tmp_path):
    (tmp_path / "breast_predictions.csv").write_text("old")
    written = write_tables(tmp_path, [_row("scan", ".", "", 0.1)], [])
    assert "breast_predictions" not in written
    assert not (tmp_path / "breast_predictions.csv").exists()
    assert pd.read_csv(tmp_path / "failures.csv").columns.tolist() == ["file", "step", "reason"]


def test_heatmap_names_are_safe_and_never_collide():
    assert heatmap_name("1_L_CC") == "heatmaps/1_L_CC.png"
    names = {heatmap_name(i) for i in ("a/b", "a__b", "x y", "x_y", "Müller", "Møller")}
    assert len(names) == 6
    assert all(len(n) < 160 for n in names | {heatmap_name("u" * 400)})


def test_overlay_is_the_image_size_in_colour():
    pixels = np.full((40, 30), 30000, np.uint16)
    heat = np.zeros((3, 2), np.float32)
    heat[0, 0] = 1.0
    picture = overlay(pixels, heat)
    assert picture.shape == (40, 30, 3) and picture.dtype == np.uint8
    assert tuple(picture[0, 0]) != tuple(picture[-1, -1])  # hot corner differs from cold
