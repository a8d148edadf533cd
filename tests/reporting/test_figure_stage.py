import json

import pandas as pd
from helpers.image_cases import SIZE, write_image_dataset, write_patch_model

from e2e_mammo.plan.evaluations import OverlaySettings
from e2e_mammo.reporting.figure_stage import (
    fig2_panels,
    heatmap_items,
    panel_label,
    pick_examples,
    write_fig2,
    write_heatmap_overlays,
)


def test_examples_alternate_malignant_and_benign():
    table = pd.DataFrame({"image_id": list("abcdef"), "label": [0, 0, 0, 1, 1, 1]})
    picked = pick_examples(table, 4)
    assert list(picked["label"]) == [1, 0, 1, 0]
    assert list(picked["image_id"]) == ["d", "a", "e", "b"]


def test_panel_label_names_the_blocks():
    result = {"row": "v", "arch": "vgg16", "cells": {"block1": "512 x 3", "block2": "512 x 3"}}
    assert panel_label(result) == "vgg16, top 512 x 3 + 512 x 3"


def _fig2_rows(tmp_path):
    ran, skipped = tmp_path / "ran", tmp_path / "skipped"
    ran.mkdir(), skipped.mkdir()
    history = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "stage": ["a", "b"]}
    )
    history.to_csv(ran / "history.csv", index=False)
    (ran / "result.json").write_text(
        json.dumps({"row": "r", "arch": "vgg16", "status": "ok", "cells": {"block1": "512 x 3"}})
    )
    (skipped / "result.json").write_text(
        json.dumps({"row": "s", "arch": "vgg16", "status": "not in demo", "note": "why"})
    )
    return [ran / "result.json", skipped / "result.json"], history


def test_fig2_panels_hold_each_rows_history_or_why_it_did_not_run(tmp_path):
    files, history = _fig2_rows(tmp_path)
    histories, notes = fig2_panels(files)
    assert list(histories) == ["vgg16, top 512 x 3", "vgg16, top"]
    pd.testing.assert_frame_equal(histories["vgg16, top 512 x 3"], history)
    assert histories["vgg16, top"] is None and notes == {"vgg16, top": "not in demo: why"}


def test_fig2_is_written(tmp_path):
    files, _ = _fig2_rows(tmp_path)
    assert write_fig2(files, tmp_path / "fig2.png").stat().st_size > 0


def test_heatmap_items_are_test_images_with_their_heatmaps(tmp_path):
    splits, manifest = write_image_dataset(tmp_path)
    model = write_patch_model(tmp_path / "p.pt")
    settings = OverlaySettings(n_images=2, image_size=SIZE, patch_size=32)
    items = heatmap_items(splits, manifest, model, settings)
    labels = [item["caption"].split("\n")[1].split(",")[0] for item in items]
    assert labels == ["label malignant", "label benign"]  # alternating, malignant first
    for item in items:
        assert item["image"].shape == tuple(SIZE) and item["heatmap"].ndim == 2
        assert 0 <= item["heatmap"].min() and item["heatmap"].max() <= 1
    png = write_heatmap_overlays(splits, manifest, model, settings, tmp_path / "o.png")
    assert png.stat().st_size > 0
