"""The CI-sized configuration (.test/params.yaml) is params.yaml with .test/overrides.yaml."""

import importlib.util
from pathlib import Path

import yaml

from e2e_mammo.config import validate_params

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("test_config", ROOT / "tools/test_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mappings_merge_key_by_key_and_the_rest_is_replaced():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert _tool().merged(base, {"a": {"y": [3]}}) == {"a": {"x": 1, "y": [3]}, "b": 2}


def test_the_committed_test_config_is_what_the_tool_renders():
    committed = (ROOT / ".test/params.yaml").read_text()
    assert committed == _tool().rendered(), "run `make docs` (tools/test_config.py)"


def test_the_test_config_passes_the_schema():
    params = yaml.safe_load((ROOT / ".test/params.yaml").read_text())
    validate_params(params, ROOT / "workflow/schemas/params.schema.yaml", ".test/params.yaml")
