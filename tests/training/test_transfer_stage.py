"""Settings and subset choice of a Table 4 cell (no training)."""

import pandas as pd
import pytest
from helpers.image_cases import WHOLE_PARAMS

from e2e_mammo.plan.schedules import schedule_to_config
from e2e_mammo.plan.transfer_cells import TransferCell, transfer_settings
from e2e_mammo.plan.whole_rows import network_settings
from e2e_mammo.training.transfer_stage import reported_metrics, training_images

ROW = {
    "row": "r",
    "arch": "resnet50",
    "patch_set": "S10",
    "top": {"type": "vgg", "blocks": [[8, 1]]},
}
TRANSFER = {
    "lr": 1e-5,
    "weight_decay": 0.01,
    "epochs": 200,
    "epoch_scale": 0.01,
    "batch_size": 2,
    "select": "last",
    "inner_val_frac": 0.25,
    "sweep": {"sizes": [20, "all"], "reference_patients": 72, "seeds": [1], "run": "all"},
    "ensemble_size": "all",
}


def _settings(**changes):
    kwargs = dict(
        init="whole_image",
        network=network_settings(ROW, WHOLE_PARAMS, "p", (64, 48), 32),
        transfer=TRANSFER,
        whole=WHOLE_PARAMS,
        augment={"hflip": True},
        size=20,
        seed=4,
    )
    kwargs.update(changes)
    cell = {k: kwargs.pop(k) for k in ("init", "network", "size", "seed")}
    return transfer_settings(TransferCell(**cell), **kwargs)


def test_settings_hold_the_papers_fine_tuning() -> None:
    settings = _settings()
    (stage,) = schedule_to_config(settings.schedule)
    assert stage == {
        "name": "fine_tune",
        "trainable": "all",
        "lr": 1e-5,
        "weight_decay": 0.01,
        "epochs": 2,
    }
    assert settings.size == "20" and settings.seed == 4 and settings.decay == "head_kernels"


def test_the_control_warms_its_new_layers_up_as_the_cbis_ddsm_models_were() -> None:
    warm_up, fine_tune = schedule_to_config(_settings(init="patch_only").schedule)
    # whole_image.schedule's first stage (30 epochs at epoch_scale 0.1), then the transfer arm's
    assert warm_up == {
        "name": "warm_up",
        "trainable": "head",
        "lr": 1e-4,
        "weight_decay": 1e-3,
        "epochs": 3,
    }
    assert fine_tune == schedule_to_config(_settings().schedule)[0]


def test_fine_tuning_batch_norm_follows_transfer_patch_bn_else_whole_image() -> None:
    assert _settings().patch_bn == "fixed"
    assert _settings(transfer=dict(TRANSFER, patch_bn="batch")).patch_bn == "batch"
    assert _settings(transfer=dict(TRANSFER, patch_bn=None)).patch_bn == "fixed"


def test_only_the_ensembles_cells_are_scored_with_tta() -> None:
    assert _settings(size="all").tta is True
    assert _settings(size=20).tta is False
    assert _settings(size="all", init="patch_only").tta is False


def test_other_sizes_of_the_sweep_do_not_change_a_cells_settings() -> None:
    more = dict(TRANSFER, sweep=dict(TRANSFER["sweep"], sizes=[10, 20, 30, "all"], run=[20]))
    assert _settings(transfer=more) == _settings()


def test_unknown_init_or_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="init"):
        _settings(init="imagenet")
    with pytest.raises(ValueError, match="transfer.select"):
        _settings(transfer=dict(TRANSFER, select="best_val"))


def _train_table(n_patients: int = 16) -> pd.DataFrame:
    rows = [(f"I{i}_{v}", f"P{i:02d}", int(i % 4 == 0)) for i in range(n_patients) for v in (0, 1)]
    return pd.DataFrame(rows, columns=["image_id", "patient_id", "label"])


def test_last_selection_trains_on_the_whole_subset() -> None:
    used, inner = training_images(_train_table(), _settings(size="all"))
    assert len(used) == 32 and inner.empty


def test_inner_validation_holds_out_patients_of_the_subset() -> None:
    settings = _settings(size="all", transfer=dict(TRANSFER, select="inner_val"))
    used, inner = training_images(_train_table(), settings)
    assert inner["patient_id"].nunique() == 4  # 0.25 of 16
    assert not set(inner["patient_id"]) & set(used["patient_id"])
    assert inner["label"].nunique() == 2


def test_reported_metrics_have_intervals_and_skip_missing_tta() -> None:
    predictions = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(8)],
            "label": [0, 1] * 4,
            "prob_malignant": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4],
        }
    )
    metrics = reported_metrics(predictions, {"n_boot": 50, "seed": 0})
    assert metrics["val_auc"] == pytest.approx(15 / 16)
    assert metrics["val_auc_ci_low"] <= metrics["val_auc"] <= metrics["val_auc_ci_high"]
    assert "val_a_auc" not in metrics
