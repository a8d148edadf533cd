"""Table 4 cells fine-tuned end to end on a tiny image set: both starts, files, MLflow parent."""

import hashlib
import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest
import torch
from helpers.image_cases import SIZE, WHOLE_PARAMS, write_image_dataset, write_patch_model

from e2e_mammo.models.input_transform import InputNormalization
from e2e_mammo.models.saved import load_model, save_model
from e2e_mammo.models.whole_image import build_whole_image_classifier, whole_image_spec
from e2e_mammo.plan.transfer_cells import TransferCell, transfer_settings
from e2e_mammo.plan.whole_rows import network_settings
from e2e_mammo.tracking import PARENT_TAG, TrackingConfig, create_parent_run
from e2e_mammo.training.transfer_stage import TransferInputs, fine_tune_cell

TOP = {"type": "resnet", "heatmap": True, "blocks": [[8, 8, 16, 1]]}
ROW = {"row": "tiny", "arch": "resnet50", "patch_set": "S10", "top": TOP}
NETWORK = network_settings(ROW, WHOLE_PARAMS, "p", SIZE, 32)
TRANSFER = {
    "lr": 1e-5,
    "weight_decay": 0.01,
    "epochs": 100,
    "epoch_scale": 0.01,  # 1 epoch
    "batch_size": 2,
    "select": "last",
    "inner_val_frac": 0.25,
    "sweep": {"sizes": [2, "all"], "reference_patients": 4, "seeds": [1], "run": "all"},
    "ensemble_size": "all",
}


def _whole_model(folder, patch_model):
    patch, _ = load_model(patch_model)
    model = build_whole_image_classifier(patch, "resnet50", TOP, SIZE, 32)
    return save_model(
        folder / "whole.pt",
        model,
        "whole_image_classifier",
        whole_image_spec("resnet50", TOP, SIZE, 32),
    )


@pytest.fixture(scope="module")
def cells(tmp_path_factory, migrated_mlflow_db):
    folder = tmp_path_factory.mktemp("transfer")
    splits, manifest = write_image_dataset(folder)
    mean = folder / "mean.json"
    mean.write_text(json.dumps({"mean": 12.5}))
    patch_model = write_patch_model(folder / "p.pt")
    shutil.copy(migrated_mlflow_db, folder / "mlflow.db")  # the schema made once (conftest)
    store = TrackingConfig(uri=f"sqlite:///{folder / 'mlflow.db'}", experiment="t")
    parent = create_parent_run(store, "table4-sweep")
    torch.set_num_threads(1)
    out = {}
    for init, size, start in (
        ("whole_image", "all", _whole_model(folder, patch_model)),
        ("patch_only", 2, patch_model),
    ):
        settings = transfer_settings(
            TransferCell(init=init, network=NETWORK, size=size, seed=1),
            transfer=TRANSFER,
            whole=WHOLE_PARAMS,
            augment={},
        )
        inputs = TransferInputs(splits, manifest, mean, start, folder / init)
        child = replace(store, parent_run_id=parent)
        result = fine_tune_cell("tiny", settings, inputs, tracking=child)
        out[init] = (folder / init, result)
    return out, store, parent


def test_fine_tuned_cell_reports_validation_auc_with_interval(cells):
    folder, result = cells[0]["whole_image"]
    assert json.loads((folder / "result.json").read_text()) == result
    assert result["val_auc_ci_low"] <= result["val_auc"] <= result["val_auc_ci_high"]
    assert result["val_a_auc"] is not None  # the ensemble size is scored with TTA
    assert (result["n_patients"], result["n_images"], result["n_val_images"]) == (4, 8, 4)
    assert result["epochs_trained"] == 1 and result["best_epoch"] == 1
    assert result["select"] == "last" and result["inbreast_mean"] == 12.5


def test_control_trains_on_its_subset_without_tta(cells):
    folder, result = cells[0]["patch_only"]
    assert result["init"] == "patch_only" and result["size"] == "2"
    assert (
        result["n_patients"] == 2 and result["val_a_auc"] is None if "val_a_auc" in result else True
    )
    subset = pd.read_csv(folder / "subset.csv")
    assert subset["patient_id"].nunique() == 2 and set(subset["role"]) == {"train"}
    assert "tta_prob_malignant" not in pd.read_csv(folder / "predictions.csv")


def test_only_the_validation_split_is_scored(cells):
    predictions = pd.read_csv(cells[0]["whole_image"][0] / "predictions.csv")
    assert set(predictions["split"]) == {"val"} and len(predictions) == 4
    assert "png_path" not in predictions


def test_saved_model_carries_the_inbreast_mean(cells):
    model, spec = load_model(cells[0]["whole_image"][0] / "model.pt")
    assert spec["kind"] == "whole_image_classifier"
    means = [float(m.mean) for m in model.modules() if isinstance(m, InputNormalization)]
    assert means and means == pytest.approx([12.5] * len(means))


def test_no_set_is_scored_during_training(cells):
    history = pd.read_csv(cells[0]["whole_image"][0] / "history.csv")
    assert history["val_auc"].isna().all() and history["train_loss"].notna().all()


def test_cells_are_children_of_the_sweeps_run(cells):
    from mlflow.tracking import MlflowClient

    _, store, parent = cells
    client = MlflowClient(tracking_uri=store.uri)
    for _, result in cells[0].values():
        run = client.get_run(result["mlflow_run_id"])
        assert run.data.tags[PARENT_TAG] == parent and run.info.status == "FINISHED"
    assert client.get_run(parent).info.status == "FINISHED"


def test_cell_run_names_its_models_path_and_content_hash(cells):
    from mlflow.tracking import MlflowClient

    _, store, _ = cells
    folder, result = cells[0]["whole_image"]
    tags = MlflowClient(tracking_uri=store.uri).get_run(result["mlflow_run_id"]).data.tags
    assert tags["model_md5"] == hashlib.md5((folder / "model.pt").read_bytes()).hexdigest()
    assert tags["model_path"] == (folder / "model.pt").resolve().as_posix()


def test_inner_validation_keeps_the_best_epoch_of_held_out_training_patients(tmp_path):
    splits, manifest = write_image_dataset(tmp_path)
    mean = tmp_path / "mean.json"
    mean.write_text(json.dumps({"mean": 12.5}))
    transfer = dict(TRANSFER, select="inner_val", inner_val_frac=0.5, epoch_scale=0.02)
    cell = TransferCell(init="patch_only", network=NETWORK, size="all", seed=1)
    settings = transfer_settings(cell, transfer=transfer, whole=WHOLE_PARAMS, augment={})
    inputs = TransferInputs(splits, manifest, mean, write_patch_model(tmp_path / "p.pt"), tmp_path)
    result = fine_tune_cell("tiny", settings, inputs, tracking=TrackingConfig(enabled=False))
    subset = pd.read_csv(tmp_path / "subset.csv")
    assert set(subset["role"]) == {"train", "inner_val"}
    assert result["n_inner_val_images"] == (subset["role"] == "inner_val").sum() > 0
    history = pd.read_csv(tmp_path / "history.csv")
    epochs = sum(stage.epochs for stage in settings.schedule)  # the control's warm-up too
    assert len(history) == epochs and history["val_loss"].notna().all()  # the inner split scored
    assert 1 <= result["best_epoch"] <= epochs and result["select"] == "inner_val"


def test_cells_write_bundles_with_the_patch_classifiers_heatmap_head(cells):
    from e2e_mammo.models.bundle import load_bundle

    for init in ("whole_image", "patch_only"):
        bundle = load_bundle(cells[0][init][0] / "model.pt")
        assert bundle.members[0].heatmap is not None, init
        assert bundle.provenance["source"].startswith(f"table4/{init}/")
