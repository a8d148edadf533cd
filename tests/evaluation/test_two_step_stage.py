import json
import shutil

import pandas as pd
import pytest
from helpers.image_cases import SIZE, write_image_dataset, write_patch_model

from e2e_mammo.evaluation.two_step_stage import TwoStepInputs, run_two_step
from e2e_mammo.plan.whole_rows import TwoStepSettings

SETTINGS = TwoStepSettings(
    cutoffs=(0.3, 0.5),
    n_estimators=5,
    max_depth=3,
    min_samples_split=2,
    seed=0,
    arch="resnet50",
    patch_set="S10",
    patch_row="p",
    image_size=SIZE,
    patch_size=32,
    bootstrap={"n_boot": 30, "seed": 0},
)


@pytest.fixture(scope="module")
def two_step(tmp_path_factory, migrated_mlflow_db):
    from e2e_mammo.tracking import TrackingConfig

    folder = tmp_path_factory.mktemp("two_step")
    splits, manifest = write_image_dataset(folder)
    inputs = TwoStepInputs(splits, manifest, write_patch_model(folder / "p.pt"), folder / "out")
    shutil.copy(migrated_mlflow_db, folder / "mlflow.db")  # the schema made once (conftest)
    store = TrackingConfig(uri=f"sqlite:///{folder / 'mlflow.db'}", experiment="t")
    meta = {"table": 2, "section": "two_step", "cells": {}, "patch_init": "random"}
    return folder / "out", run_two_step("two", SETTINGS, inputs, meta, tracking=store)


def test_two_step_scores_every_split(two_step):
    predictions = pd.read_csv(two_step[0] / "predictions.csv")
    assert predictions.groupby("split").size().to_dict() == {"test": 6, "train": 8, "val": 4}
    assert predictions["prob_malignant"].between(0, 1).all()


def test_two_step_result_has_test_auc_interval_and_no_a_auc(two_step):
    out, result = two_step
    assert json.loads((out / "result.json").read_text()) == result
    assert result["test_a_auc"] is None and result["section"] == "two_step"
    low, high = result["test_auc_ci"]
    assert low <= result["test_auc"] <= high
