import numpy as np
import pandas as pd
import pytest
from helpers.image_cases import WHOLE_PARAMS as WHOLE

from e2e_mammo.evaluation.split_metrics import split_metrics
from e2e_mammo.plan.settings import to_params
from e2e_mammo.plan.whole_rows import network_settings, row_section, whole_training_settings

ROW = {
    "row": "r",
    "arch": "resnet50",
    "patch_set": "S10",
    "top": {"type": "vgg", "blocks": [[256, 1], [128, 1]]},
    "paper_auc": 0.87,
}


def _settings(**changes):
    whole = dict(WHOLE, **changes)
    network = network_settings(ROW, whole, "p", (64, 48), 12)
    return whole_training_settings(ROW, whole, {"hflip": True}, network)


def test_settings_scale_the_two_stages():
    settings = _settings()
    assert [s.epochs for s in settings.schedule] == [3, 2]
    assert settings.schedule[0].weight_decay == 1e-3


def test_settings_hold_no_published_number_and_no_speed_switch():
    flat = repr(to_params(_settings()))
    assert "0.87" not in flat and "paper" not in flat
    assert _settings() == _settings(workers=0, activation_checkpointing=False)


def test_settings_change_with_what_changes_the_result():
    assert _settings() != _settings(seed=2)
    assert _settings() != _settings(accumulate=4)


@pytest.mark.parametrize(
    ("top", "section"),
    [
        ({"type": "resnet", "blocks": []}, "blocks"),
        ({"type": "resnet", "heatmap": True, "blocks": []}, "heatmap"),
        ({"type": "fc", "pool": 5, "units": [64, 32]}, "fc"),
        ({"type": "two_step"}, "two_step"),
    ],
)
def test_row_section(top, section):
    assert row_section(top) == section


def _predictions(n=40):
    rng = np.random.default_rng(0)
    label = np.tile([0, 1], n // 2)
    frame = pd.DataFrame(
        {
            "split": ["val"] * (n // 2) + ["test"] * (n // 2),
            "patient_id": [f"P{i // 2}" for i in range(n)],
            "label": label,
            "prob_malignant": label * 0.5 + rng.random(n) * 0.6,
        }
    )
    frame["tta_prob_malignant"] = frame["prob_malignant"]
    return frame


def test_split_metrics_give_test_intervals_and_validation_aucs():
    metrics = split_metrics(_predictions(), {"n_boot": 100, "seed": 0})
    low, high = metrics["test_auc_ci"]
    assert low <= metrics["test_auc"] <= high
    assert metrics["val_auc"] is not None and metrics["val_a_auc"] is not None


def test_split_metrics_without_augmented_scores_have_no_a_auc():
    frame = _predictions().drop(columns=["tta_prob_malignant"])
    metrics = split_metrics(frame, {"n_boot": 50, "seed": 0})
    assert metrics["test_a_auc"] is None and metrics["test_auc"] is not None
