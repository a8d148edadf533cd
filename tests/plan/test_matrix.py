"""The experiment matrix of the shipped params.yaml (no weights on disk, as on a fresh machine)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from e2e_mammo.config import load_yaml
from e2e_mammo.plan.matrix import ExperimentPlan
from e2e_mammo.plan.settings import from_params, to_params
from e2e_mammo.plan.transfer_cells import TransferCellSettings
from e2e_mammo.plan.whole_rows import WholeRowSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet weights here
    return load_yaml(ROOT / "params.yaml")


def _plan(config: dict) -> ExperimentPlan:
    return ExperimentPlan.from_config(config)


def test_rows_asking_for_missing_imagenet_weights_are_not_run(config) -> None:
    plan = _plan(config)
    assert plan.trained_rows and plan.not_run_rows
    assert all(plan.table1[r]["pretrained"] == "none" for r in plan.trained_rows)
    assert plan.patch_weights(plan.trained_rows[0]) == []
    assert set(plan.patch_row_not_run(plan.not_run_rows[0])) == {
        "row",
        "arch",
        "patch_set",
        "pretrained",
    }


def test_patch_rows_left_out_of_the_demo_say_so_and_how_to_train_them(config) -> None:
    config["patch_training"]["rows"] = ["resnet50-N-S1", "resnet50-Y-S1"]
    plan = _plan(config)
    assert plan.trained_rows == ["resnet50-N-S1"]  # the Y row's weights are not on disk
    left_out = [r for r in plan.not_run_rows if plan.patch_row_left_out(r)]
    assert left_out == ["resnet50-N-S10", "resnet50-Y-S10", "vgg16-Y-S10", "vgg16-N-S10"]
    assert "patch_training.rows: all" in plan.patch_row_left_out("vgg16-N-S10")
    assert plan.patch_row_left_out("resnet50-Y-S1") == ""  # selected: not run for its weights


def test_all_patch_rows_train_where_their_weights_allow(config) -> None:
    config["patch_training"]["rows"] = "all"
    trained = _plan(config).trained_rows
    assert trained == [r["row"] for r in config["table1"] if r["pretrained"] == "none"]


def test_unknown_patch_row_names_are_refused(config) -> None:
    config["patch_training"]["rows"] = ["resnet50-N-S10", "resnet99-N-S10"]
    with pytest.raises(ValueError, match="resnet99-N-S10"):
        _ = _plan(config).trained_rows


def test_whole_image_rows_split_into_trained_and_recorded(config) -> None:
    plan = _plan(config)
    assert set(plan.trained_whole) == set(config["whole_image"]["rows"])
    assert plan.two_step_rows == ["r50-s10-two-step"]
    assert set(plan.end_to_end_rows) | set(plan.two_step_rows) == set(plan.trained_whole)
    assert sorted(plan.trained_whole + plan.not_run_whole) == sorted(plan.whole)
    reason = plan.whole_not_run(plan.not_run_whole[0])["reason"]
    assert "profiles/paper" in reason


def test_a_whole_image_row_builds_on_a_trained_patch_classifier(config) -> None:
    plan = _plan(config)
    settings = plan.whole_row("r50-s10-res1024x2")
    assert settings.network.patch_row in plan.trained_rows
    assert settings.network.image_size == tuple(config["convert"]["size"])
    assert from_params(WholeRowSettings, to_params(settings)) == settings


def test_the_patch_side_follows_the_image_height(config) -> None:
    config["convert"]["size"] = [576, 448]
    config["patches"]["reference_height"] = 1152
    config["patches"]["size"] = 224
    assert _plan(config).patch_size == 112
    assert _plan(config).patch_sampling(sorted(config["patches"]["sets"])[0])["patch_size"] == 112


def test_inbreast_splits_by_patients_with_no_test_set(config) -> None:
    settings = _plan(config).split_settings("inbreast")
    assert settings["mode"] == "holdout" and settings["test_frac"] == 0.0


def test_the_sweep_has_every_model_and_the_control(config) -> None:
    plan = _plan(config)
    models = plan.end_to_end_rows[:2]
    columns = plan.sweep_columns(models)
    assert columns[:2] == [f"whole_image-{m}" for m in models]
    assert columns[-1].startswith("patch_only-")
    assert len(plan.ensemble_cell_dirs(models)) == 2
    assert all(d.startswith("results/transfer/") for d in plan.transfer_cell_dirs(models))


def test_a_cells_settings_round_trip_through_the_rules_params(config) -> None:
    settings = _plan(config).transfer_cell("patch_only", "r50-s10-res1024x2", "20", 12345)
    assert settings.schedule[0].name == "warm_up" and settings.tta is False
    assert from_params(TransferCellSettings, to_params(settings)) == settings


def test_a_row_name_in_no_table_stops_the_plan_naming_the_key(config) -> None:
    changed = copy.deepcopy(config)
    changed["figures"]["heatmap_row"] = "no-such-row"
    with pytest.raises(ValueError, match="figures.heatmap_row"):
        _plan(changed)


def test_the_cbis_ddsm_ensemble_has_one_member_per_family_scored_on_test(config) -> None:
    settings = _plan(config).ensemble("cbis-ddsm")
    assert settings.families == tuple(config["ensemble"]["families"])
    assert (settings.eval_split, settings.threshold, settings.data) == ("test", None, "synthetic")


def test_the_inbreast_ensemble_takes_its_members_as_given_at_a_fixed_threshold(config) -> None:
    settings = _plan(config).ensemble("inbreast")
    assert settings.families is None and settings.eval_split == "val"
    assert settings.threshold == config["transfer"]["threshold"]


def test_the_claims_know_the_sweeps_sizes_and_the_papers_numbers(config) -> None:
    plan = _plan(config)
    claims = plan.claims()
    assert list(claims.sizes) == config["transfer"]["sweep"]["sizes"]
    assert claims.paper_ensemble_auc == config["ensemble"]["paper_auc"]
    assert "profiles/paper" in claims.not_run_switch and "profiles/paper" in claims.sweep_switch
    assert set(plan.paper_row_aucs()) == set(plan.whole)
