"""Tests for the paper's figures (Fig 2 loss curves, Fig 3 ROC curves, heatmap overlays)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.reporting.figures import plot_heatmap_overlays, plot_loss_curves, plot_roc_curves


def _size(path: Path) -> tuple[int, int]:
    """(height, width) of the PNG read back; asserts it is a real, non-empty image."""
    assert path.stat().st_size > 0
    image = cv2.imread(str(path))
    assert image is not None
    return image.shape[:2]


def test_loss_curves_one_panel_per_row_with_a_none_history(tmp_path: Path) -> None:
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "train_loss": [0.9, 0.7, 0.5, 0.4],
            "val_loss": [1.0, 0.8, 0.9, 0.7],
            "stage": [1, 1, 2, 2],
        }
    )
    out = tmp_path / "fig" / "fig2.png"
    result = plot_loss_curves(
        {"VGG16 512 x 3": history, "VGG16 512 x 1": None},
        out,
        notes={"VGG16 512 x 1": "not in demo"},
    )
    height, width = _size(result)
    assert result == out and 900 <= width <= 1100 and 350 <= height <= 500  # two panels wide
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left behind


def test_roc_curves_draw_two_and_skip_a_one_class_curve(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    curves = {
        "Resnet-Resnet": (labels, labels * 0.5 + rng.random(40)),
        "Ensemble": (labels, labels * 0.8 + rng.random(40)),
        "one class": (np.zeros(10, int), rng.random(10)),
    }
    height, width = _size(plot_roc_curves(curves, tmp_path / "fig3.png", "Fig 3a"))
    assert 600 <= width <= 720 and 600 <= height <= 720


def test_heatmap_overlay_when_heatmap_and_image_sizes_differ(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    items = [
        {
            "image": rng.integers(0, 65535, (96, 64), dtype=np.uint16),
            "heatmap": rng.random((7, 5)),
            "caption": f"image P_0005{i} RIGHT CC, label malignant, score 0.8{i}",
        }
        for i in range(5)
    ]
    height, width = _size(plot_heatmap_overlays(items, tmp_path / "heat.png", "Heatmaps"))
    assert 1400 <= width <= 1600 and 900 <= height <= 1000  # 4 per row, 2 rows


def test_heatmap_overlay_single_float_image(tmp_path: Path) -> None:
    item = {"image": np.linspace(0, 1, 40 * 30).reshape(40, 30), "heatmap": np.eye(3)}
    height, width = _size(plot_heatmap_overlays([item], tmp_path / "one.png", "One"))
    assert 400 <= width <= 500 and 450 <= height <= 550


def test_sweep_plot_draws_models_the_control_and_skips_sizes_not_run(tmp_path: Path) -> None:
    from e2e_mammo.reporting.figures import plot_sweep

    frame = pd.DataFrame(
        {
            "init": ["whole_image", "whole_image", "patch_only", None],
            "model": ["m", "m", "m", None],
            "status": ["ok", "ok", "ok", "not in demo"],
            "n_patients": [10, 20, 10, None],
            "auc": [0.7, 0.8, 0.5, None],
            "ci_low": [0.6, 0.7, 0.4, None],
            "ci_high": [0.8, 0.9, 0.6, None],
        }
    )
    out = plot_sweep(frame, tmp_path / "sweep.png", "sweep")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 100


def test_sweep_plot_with_nothing_run_still_writes_a_figure(tmp_path: Path) -> None:
    from e2e_mammo.reporting.figures import plot_sweep

    frame = pd.DataFrame(
        {
            "init": [None],
            "model": [None],
            "status": ["not in demo"],
            "n_patients": [None],
            "auc": [None],
            "ci_low": [None],
            "ci_high": [None],
        }
    )
    assert plot_sweep(frame, tmp_path / "s.png", "sweep").stat().st_size > 0


def test_dataset_examples_show_each_image_over_its_histogram(tmp_path: Path) -> None:
    from e2e_mammo.reporting.figures import plot_dataset_examples

    film = np.full((64, 48), 9000, np.uint16)
    ffdm = np.full((64, 48), 40000, np.uint16)
    items = [{"image": film, "caption": "film"}, {"image": ffdm, "caption": "ffdm"}]
    out = plot_dataset_examples(items, tmp_path / "fig4.png", "Fig 4")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > image.shape[0] * 0.8
