"""Tests for params.yaml loading and validation."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from e2e_mammo.config import (
    check_scale,
    coerce_to_schema,
    load_yaml,
    numbers_kind,
    prepare_config,
    validate_params,
)
from e2e_mammo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/params.schema.yaml"


@pytest.fixture()
def params() -> dict:
    return load_yaml(ROOT / "params.yaml")


def test_default_params_are_valid(params: dict) -> None:
    validate_params(params, SCHEMA)


def test_wrong_type_names_the_key(params: dict) -> None:
    bad = copy.deepcopy(params)
    bad["convert"]["size"] = [256]
    with pytest.raises(ConfigError, match=r"convert\.size"):
        validate_params(bad, SCHEMA)


def test_unknown_key_is_reported(params: dict) -> None:
    bad = copy.deepcopy(params)
    bad["split"]["sed"] = 1
    with pytest.raises(ConfigError, match="sed"):
        validate_params(bad, SCHEMA)


def test_every_problem_is_listed(params: dict) -> None:
    bad = copy.deepcopy(params)
    bad["convert"]["intensity"] = "log"
    bad["split"]["cbis_ddsm"]["mode"] = "random"
    with pytest.raises(ConfigError) as info:
        validate_params(bad, SCHEMA)
    assert "convert.intensity" in str(info.value) and "split.cbis_ddsm.mode" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")


def _at_scale(params: dict, name: str, allow: bool = False, real: tuple[str, ...] = ()) -> dict:
    changed = copy.deepcopy(params)
    changed["scale"] = {"name": name, "allow_synthetic": allow}
    for key in real:
        changed["data"][key]["root"] = "/data/" + key
    return changed


def test_the_paper_scale_refuses_synthetic_data_naming_the_setting(params: dict) -> None:
    with pytest.raises(ConfigError, match=r"data\.inbreast\.root is 'synthetic'.*allow_synthetic"):
        check_scale(_at_scale(params, "paper", real=("cbis_ddsm",)))


def test_the_paper_scale_runs_on_real_data_or_with_the_opt_in(params: dict) -> None:
    check_scale(_at_scale(params, "paper", real=("cbis_ddsm", "inbreast")))
    check_scale(_at_scale(params, "paper", allow=True))
    check_scale(_at_scale(params, "demo"))


def test_numbers_are_demo_numbers_unless_paper_scale_on_real_data(params: dict) -> None:
    both = ("cbis_ddsm", "inbreast")
    assert numbers_kind(_at_scale(params, "paper", real=both)) == "paper"
    assert numbers_kind(_at_scale(params, "paper", allow=True)) == "demo"
    assert numbers_kind(_at_scale(params, "demo", real=both)) == "demo"


def test_config_strings_become_numbers_and_booleans_where_the_schema_wants_them(params) -> None:
    # Snakemake's --config gives strings only
    changed = copy.deepcopy(params)
    changed["two_step"]["n_estimators"] = "400"
    changed["tracking"]["enabled"] = "false"
    changed["whole_image"]["bootstrap"]["seed"] = "3"
    changed["transfer"]["sweep"]["seeds"] = ["5", "6"]
    typed = coerce_to_schema(changed, load_yaml(SCHEMA))
    assert typed["two_step"]["n_estimators"] == 400 and typed["tracking"]["enabled"] is False
    assert typed["whole_image"]["bootstrap"]["seed"] == 3
    assert typed["transfer"]["sweep"]["seeds"] == [5, 6]
    validate_params(typed, SCHEMA)


def test_strings_the_schema_allows_stay_strings(params) -> None:
    changed = copy.deepcopy(params)
    changed["whole_image"]["rows"] = "all"
    changed["tracking"]["uri"] = "123"
    typed = coerce_to_schema(changed, load_yaml(SCHEMA))
    assert typed["whole_image"]["rows"] == "all" and typed["tracking"]["uri"] == "123"


def test_the_workflows_config_is_typed_validated_and_says_what_its_numbers_are(params) -> None:
    changed = copy.deepcopy(params)
    changed["two_step"]["n_estimators"] = "400"
    prepared = prepare_config(changed, SCHEMA)
    assert prepared["two_step"]["n_estimators"] == 400 and prepared["numbers"] == "demo"
    assert changed["two_step"]["n_estimators"] == "400"  # the given config is left as it was


def test_the_workflows_config_refuses_a_wrong_key_naming_it(params) -> None:
    changed = copy.deepcopy(params)
    changed["two_step"]["n_estimators"] = "many"
    with pytest.raises(ConfigError, match="two_step.n_estimators"):
        prepare_config(changed, SCHEMA)
