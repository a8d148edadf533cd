"""Tests for one Table 1 row: initialisation choice, schedule, training job outputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from e2e_mammo.constants import PATCH_CLASSES
from e2e_mammo.data import load_patch_split, make_loader
from e2e_mammo.models.saved import load_model
from e2e_mammo.plan.patch_rows import (
    PatchRowSettings,
    choose_pretrained,
    row_schedule,
    row_training_settings,
)
from e2e_mammo.plan.settings import to_params
from e2e_mammo.plan.weights import MissingWeightsError, weights_file_name
from e2e_mammo.tracking import TrackingConfig
from e2e_mammo.training.loop import evaluate
from e2e_mammo.training.not_run import record_row_not_run
from e2e_mammo.training.patch_stage import PatchRowFiles, train_patch_row

ROW_N = {"row": "resnet50-N-S10", "arch": "resnet50", "pretrained": "none", "patch_set": "S10"}
ROW_Y = {**ROW_N, "row": "resnet50-Y-S10", "pretrained": "imagenet", "paper_accuracy": 0.89}
SCHEDULES = {
    "pretrained_s10": [
        {"name": "head", "trainable": "head", "lr": 1e-3, "epochs": 3},
        {"name": "all", "trainable": "all", "lr": 1e-5, "epochs": 37},
    ],
    "random_s10": [{"name": "all", "trainable": "all", "lr": 1e-3, "epochs": 50}],
    "random_s1": [{"name": "all", "trainable": "all", "lr": 1e-3, "epochs": 200}],
}
TRAINING = {
    "batch_size": 8,
    "seed": 1,
    "epoch_scale": 0.02,
    "augment": {
        "hflip": True,
        "vflip": True,
        "rotation": 25,
        "shear": 0.2,
        "zoom": [0.8, 1.2],
        "intensity_shift": 20,
    },
    "top_blocks": {"resnet50": ["layer4"]},
    "schedules": SCHEDULES,
}
NO_TRACKING = TrackingConfig(enabled=False)


@pytest.fixture()
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_override_none_runs_random_and_says_so() -> None:
    choice = choose_pretrained(ROW_Y, {"override": "none"})
    assert choice.init == "none" and "paper Y" in choice.label


def test_missing_weights_skip_gives_reason_with_path(empty_torch_home: Path) -> None:
    choice = choose_pretrained(ROW_Y, {"override": None, "on_missing": "skip", "weights": {}})
    assert choice.skip_reason and weights_file_name("resnet50") in choice.skip_reason
    assert str(empty_torch_home) in choice.skip_reason


def test_missing_weights_fail_raises(empty_torch_home: Path) -> None:
    with pytest.raises(MissingWeightsError):
        choose_pretrained(ROW_Y, {"override": None, "on_missing": "fail", "weights": {}})


def test_weights_found_in_torch_home(empty_torch_home: Path) -> None:
    path = empty_torch_home / "hub" / "checkpoints" / weights_file_name("resnet50")
    path.parent.mkdir(parents=True)
    torch.save({}, path)
    choice = choose_pretrained(ROW_Y, {"override": None, "on_missing": "fail", "weights": {}})
    assert choice.init == "imagenet" and choice.weights == path


def test_random_init_uses_constant_schedule_scaled() -> None:
    schedule = row_schedule("S10", "none", SCHEDULES, 0.1)
    assert [(s.lr, s.epochs, s.trainable) for s in schedule] == [(1e-3, 5, "all")]


def test_schedule_scaling_keeps_at_least_one_epoch() -> None:
    schedule = row_schedule("S10", "imagenet", SCHEDULES, 0.01)
    assert [s.epochs for s in schedule] == [1, 1]


def _patch_set(folder: Path, n: int = 24, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split in ("train", "val", "test"):
        labels = np.arange(n) % 5
        images = rng.integers(0, 20000, size=(n, size, size)).astype(np.uint16)
        images[labels > 0, 8:24, 8:24] += (labels[labels > 0, None, None] * 9000).astype(np.uint16)
        np.save(folder / f"{split}.npy", images)
        pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "class": labels}).to_csv(
            folder / f"{split}.csv", index=False
        )
    (folder / "mean.json").write_text(json.dumps({"mean": 40.0}))
    return folder


def _settings(**overrides) -> PatchRowSettings:
    settings = row_training_settings(ROW_N, TRAINING, {"override": None})
    return dataclasses.replace(settings, **overrides)


def _train(patches: Path, out: Path, settings: PatchRowSettings | None = None) -> dict:
    files = PatchRowFiles(patches, patches / "mean.json", out)
    return train_patch_row("resnet50-N-S10", settings or _settings(), files, NO_TRACKING, threads=2)


def test_training_settings_hold_no_published_numbers() -> None:
    row = {**ROW_N, "paper_accuracy": 0.63, "paper_best_epoch": 24}
    settings = row_training_settings(row, TRAINING, {"override": None})
    assert settings == row_training_settings(ROW_N, TRAINING, {"override": None})
    assert not any("paper" in key for key in to_params(settings))


def test_training_settings_hold_only_the_rows_own_schedule_and_blocks() -> None:
    settings = _settings()
    assert [s.epochs for s in settings.schedule] == [1]  # random_s10 x 0.02
    assert settings.top_blocks == ("layer4",)
    other = {**TRAINING, "schedules": {**SCHEDULES, "random_s1": []}}
    assert row_training_settings(ROW_N, other, {"override": None}) == settings


def test_row_without_weights_writes_not_run_result(tmp_path: Path, empty_torch_home: Path) -> None:
    result = record_row_not_run(
        ROW_Y,
        {"override": None, "on_missing": "skip", "weights": {}},
        tmp_path / "out",
        NO_TRACKING,
    )
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["status"] == "not run" and result == saved
    assert weights_file_name("resnet50") in saved["note"]


def test_row_left_out_of_the_demo_is_recorded_as_not_in_demo(tmp_path: Path) -> None:
    reason = "not trained by the demo; to train it: patch_training.rows: all"
    pretrained = {"override": None, "on_missing": "fail", "weights": {}}  # never looked up
    result = record_row_not_run(ROW_Y, pretrained, tmp_path / "out", NO_TRACKING, left_out=reason)
    assert result["status"] == "not in demo" and result["note"] == reason
    assert result["pretrained_label"] == "Y"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    """One row trained on a tiny patch set (patches folder, output folder, result)."""
    folder = tmp_path_factory.mktemp("patch_stage")
    patches = _patch_set(folder / "patches")
    return patches, folder / "out", _train(patches, folder / "out")


def test_row_trains_and_writes_its_outputs(trained) -> None:
    _, out, result = trained
    assert result["status"] == "ok"
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["best_epoch"] == 1
    assert len(pd.read_csv(out / "history.csv")) == result["epochs_trained"]
    assert (out / "learning_curves.png").stat().st_size > 0
    assert not (out / "checkpoints").exists()


def test_predictions_cover_validation_and_test_with_class_probabilities(trained) -> None:
    _, out, _ = trained
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions.groupby("split").size().to_dict() == {"test": 24, "val": 24}
    probs = predictions[[f"prob_{c}" for c in PATCH_CLASSES]].to_numpy()
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (predictions["label"] == predictions["class"]).all()


def test_saved_model_reproduces_the_predictions(trained) -> None:
    patches, out, _ = trained
    model, spec = load_model(out / "model.pt")
    assert spec["input_transform"]["mean"] == pytest.approx(40.0)
    dataset, _ = load_patch_split(patches, "test")
    scored = evaluate(model, make_loader(dataset, 8, shuffle=False), device="cpu")
    saved = pd.read_csv(out / "predictions.csv").query("split == 'test'")
    assert np.allclose(scored["probs"][:, 1], saved["prob_malignant_mass"], atol=1e-5)


def test_same_seed_gives_the_same_run(trained, tmp_path: Path) -> None:
    patches, out, result = trained
    again = _train(patches, tmp_path / "again")
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "history.csv"), pd.read_csv(tmp_path / "again" / "history.csv")
    )
    assert again["test_accuracy"] == result["test_accuracy"]


def test_a_row_may_name_its_own_schedule():
    schedules = dict(SCHEDULES, own=[{"name": "all", "trainable": "all", "lr": 1e-4, "epochs": 20}])
    schedule = row_schedule("S10", "none", schedules, 0.5, "own")
    assert [(s.lr, s.epochs) for s in schedule] == [(1e-4, 10)]


def test_an_unknown_row_schedule_is_named():
    with pytest.raises(ValueError, match="nowhere"):
        row_schedule("S10", "none", SCHEDULES, 1.0, "nowhere")
