import json

import pandas as pd
from helpers.image_cases import SIZE, write_image_dataset, write_patch_model

from e2e_mammo.reporting.figure_stage import (
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


def test_fig2_draws_trained_and_not_run_rows(tmp_path):
    ran, skipped = tmp_path / "ran", tmp_path / "skipped"
    ran.mkdir(), skipped.mkdir()
    history = pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "stage": ["a", "b"]}
    )
    history.to_csv(ran / "history.csv", index=False)
    (ran / "result.json").write_text(
        json.dumps({"row": "r", "arch": "vgg16", "status": "ok", "cells": {}})
    )
    (skipped / "result.json").write_text(
        json.dumps({"row": "s", "arch": "vgg16", "status": "not in demo", "note": "why"})
    )
    png = write_fig2([ran / "result.json", skipped / "result.json"], tmp_path / "fig2.png")
    assert png.stat().st_size > 0


def test_heatmap_overlays_of_test_images(tmp_path):
    splits, manifest = write_image_dataset(tmp_path)
    model = write_patch_model(tmp_path / "p.pt")
    settings = {"n_images": 2, "image_size": list(SIZE), "patch_size": 32}
    png = write_heatmap_overlays(splits, manifest, model, settings, tmp_path / "o.png")
    assert png.stat().st_size > 0
