"""One Table 2/3 row trained end to end on a tiny image set (files, MLflow, reload)."""

import json
import shutil

import pandas as pd
import pytest
import torch
from helpers.image_cases import SIZE, WHOLE_PARAMS, write_image_dataset, write_patch_model

from e2e_mammo.models.saved import load_model
from e2e_mammo.plan.whole_rows import network_settings, whole_training_settings
from e2e_mammo.training.whole_stage import WholeRowInputs, train_whole_row

WHOLE = dict(WHOLE_PARAMS, accumulate=2, seed=3, epoch_scale=0.01)  # 1 + 1 epochs
ROW = {"row": "tiny", "arch": "resnet50", "patch_set": "S10", "top": {}}
META = {"table": 2, "section": "heatmap", "cells": {"block1": "x"}, "patch_init": "random"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, migrated_mlflow_db):
    from e2e_mammo.tracking import TrackingConfig

    folder = tmp_path_factory.mktemp("whole")
    splits, manifest = write_image_dataset(folder)
    top = {"type": "resnet", "heatmap": True, "blocks": [[8, 8, 16, 1]]}
    row = dict(ROW, top=top)
    settings = whole_training_settings(row, WHOLE, {}, network_settings(row, WHOLE, "p", SIZE, 32))
    inputs = WholeRowInputs(splits, manifest, write_patch_model(folder / "p.pt"), folder / "out")
    shutil.copy(migrated_mlflow_db, folder / "mlflow.db")  # the schema made once (conftest)
    store = TrackingConfig(uri=f"sqlite:///{folder / 'mlflow.db'}", experiment="t")
    torch.set_num_threads(1)
    result = train_whole_row("tiny", settings, inputs, META, tracking=store)
    return folder / "out", result


def test_result_has_intervals_epochs_and_the_rows_cells(trained):
    out, result = trained
    assert json.loads((out / "result.json").read_text()) == result
    assert result["epochs_trained"] == 2 and 1 <= result["best_epoch"] <= 2
    low, high = result["test_auc_ci"]
    assert low <= result["test_auc"] <= high
    assert result["cells"] == {"block1": "x"} and result["patch_model"] == "p"
    assert (result["n_train"], result["n_val"], result["n_test"]) == (8, 4, 6)


def test_predictions_cover_val_and_test_with_flip_scores(trained):
    predictions = pd.read_csv(trained[0] / "predictions.csv")
    assert predictions.groupby("split").size().to_dict() == {"test": 6, "val": 4}
    for column in ("image_id", "patient_id", "label", "prob_malignant", "tta_prob_malignant"):
        assert column in predictions
    assert "png_path" not in predictions


def test_saved_model_reloads_with_the_same_scores(trained):
    out, _ = trained
    model, spec = load_model(out / "model.pt")
    assert spec["kind"] == "whole_image_classifier" and spec["top"]["heatmap"] is True
    x = torch.rand(2, 1, *SIZE) * 255
    with torch.inference_mode():
        assert model(x).shape == (2, 2)


def test_checkpoints_are_gone_and_history_written(trained):
    out, _ = trained
    assert not (out / "checkpoints" / "checkpoint.pt").exists()
    assert len(pd.read_csv(out / "history.csv")) == 2


def test_model_is_a_bundle_with_preprocessing_provenance_and_its_own_heatmap(trained):
    from e2e_mammo.models.bundle import load_bundle
    from e2e_mammo.provenance import file_md5

    out, result = trained
    bundle = load_bundle(out / "model.pt")
    (member,) = bundle.members
    assert bundle.preprocess["image_size"] == list(SIZE)
    assert bundle.preprocess["intensity"] == "minmax"
    assert member.heatmap_source == "the model's heatmap layer"
    provenance = bundle.provenance
    assert provenance["source"] == "table2/tiny" and provenance["data"] == "real"
    assert provenance["data_files"]["manifest"] == file_md5(out.parent / "manifest.csv")
    assert provenance["metrics"]["test_auc"] == result["test_auc"]
