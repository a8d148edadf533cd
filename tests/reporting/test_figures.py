"""The paper's figures, asserted on what they draw (panels, curves, labels), and their PNGs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from e2e_mammo.reporting.figures import (
    dataset_examples_figure,
    heatmap_overlays_figure,
    loss_curves_figure,
    plot_roc_curves,
    roc_curves_figure,
    sweep_figure,
)

HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2, 3, 4],
        "train_loss": [0.9, 0.7, 0.5, 0.4],
        "val_loss": [1.0, 0.8, 0.9, 0.7],
        "stage": [1, 1, 2, 2],
    }
)


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def test_loss_curves_have_a_panel_per_row_with_train_and_validation():
    fig = loss_curves_figure({"VGG16 512 x 3": HISTORY, "VGG16 512 x 1": None})
    ran, skipped = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["VGG16 512 x 3", "VGG16 512 x 1"]
    train, val = ran.get_lines()[:2]
    assert list(train.get_ydata()) == [0.9, 0.7, 0.5, 0.4]
    assert list(val.get_ydata()) == [1.0, 0.8, 0.9, 0.7]
    assert _legend(ran) == ["train", "validation"] and ran.get_ylabel() == "loss"


def test_loss_curves_mark_the_stage_change():
    ran = loss_curves_figure({"r": HISTORY}).axes[0]
    (marker,) = ran.get_lines()[2:]
    assert list(marker.get_xdata()) == [2.5, 2.5]  # between epochs 2 and 3


def test_a_row_without_history_says_why_it_did_not_run():
    fig = loss_curves_figure({"r": None}, notes={"r": "not in demo"})
    assert _texts(fig.axes[0]) == "not run: not in demo" and not fig.axes[0].get_lines()


def test_roc_curves_draw_each_model_with_its_auc_and_skip_a_one_class_curve():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    curves = {
        "Resnet-Resnet": (labels, labels * 0.5 + rng.random(40)),
        "perfect": (labels, labels.astype(float)),
        "one class": (np.zeros(10, int), rng.random(10)),
    }
    ax = roc_curves_figure(curves, "Fig 3a").axes[0]
    legend = _legend(ax)
    assert legend[0] == "chance" and legend[2] == "perfect (AUC = 1.00)"
    assert legend[1].startswith("Resnet-Resnet (AUC = 0.")
    assert legend[3] == "one class: skipped (labels hold one class)"
    assert ax.get_xlabel() == "False positive rate" and ax.get_title() == "Fig 3a"


def test_overlays_show_each_image_with_its_heatmap_upsampled_to_its_size():
    rng = np.random.default_rng(1)
    items = [
        {"image": rng.integers(0, 65535, (96, 64), dtype=np.uint16), "heatmap": rng.random((7, 5)),
         "caption": f"image {i}"}
        for i in range(5)
    ]  # fmt: skip
    fig = heatmap_overlays_figure(items, "Heatmaps")
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(shown) == 5 and [ax.get_title() for ax in shown] == [f"image {i}" for i in range(5)]
    grey, heat = shown[0].get_images()
    assert grey.get_array().shape == heat.get_array().shape == (96, 64)
    assert heat.get_cmap().name == "jet" and heat.get_clim() == (0, 1)
    assert any(ax.get_ylabel() == "heatmap score" for ax in fig.axes)  # one colour bar


def test_overlays_of_no_image_say_so():
    fig = heatmap_overlays_figure([], "none")
    assert _texts(fig.axes[0]) == "no images"


def _sweep_frame(status, auc):
    n = len(status)
    return pd.DataFrame(
        {
            "init": ["whole_image", "whole_image", "patch_only", None][:n],
            "model": ["m", "m", "m", None][:n],
            "status": status,
            "n_patients": [10, 20, 10, None][:n],
            "auc": auc,
            "ci_low": [a - 0.1 if a else None for a in auc],
            "ci_high": [a + 0.1 if a else None for a in auc],
        }
    )


def test_sweep_draws_each_model_and_the_control_and_skips_cells_not_run():
    frame = _sweep_frame(["ok", "ok", "ok", "not in demo"], [0.7, 0.8, 0.5, None])
    ax = sweep_figure(frame, "sweep").axes[0]
    assert _legend(ax) == ["chance", "m", "m (control: patch classifier only)"]
    fine_tuned = ax.containers[0].lines[0]
    assert list(fine_tuned.get_xdata()) == [10.0, 20.0]
    assert list(fine_tuned.get_ydata()) == [0.7, 0.8]


def test_a_sweep_with_nothing_run_says_so():
    ax = sweep_figure(_sweep_frame(["not in demo"], [None]), "sweep").axes[0]
    assert _texts(ax) == "no cell of the sweep trained"


def test_dataset_examples_show_each_image_over_its_histogram():
    film = np.full((64, 48), 9000, np.uint16)
    ffdm = np.full((64, 48), 40000, np.uint16)
    items = [{"image": film, "caption": "film"}, {"image": ffdm, "caption": "ffdm"}]
    fig = dataset_examples_figure(items, "Fig 4")
    images, histograms = fig.axes[:2], fig.axes[2:]
    assert [ax.get_title() for ax in images] == ["film", "ffdm"]
    counts = [sum(p.get_height() for p in ax.patches) for ax in histograms]
    assert counts == [64 * 48, 64 * 48]  # every breast pixel of each image counted once


def test_a_figure_is_written_atomically_as_a_png(tmp_path: Path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 20)
    out = plot_roc_curves({"m": (labels, rng.random(20))}, tmp_path / "fig" / "roc.png", "t")
    image = cv2.imread(str(out))
    assert image is not None and 600 <= image.shape[0] <= 720
    assert [p.name for p in out.parent.iterdir()] == ["roc.png"]
