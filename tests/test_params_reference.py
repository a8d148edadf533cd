"""The parameter reference is generated from the schema and never drifts from it."""

import importlib.util
from pathlib import Path

import pytest

from e2e_mammo.config import load_yaml
from e2e_mammo.params_reference import (
    BEGIN,
    END,
    described_keys,
    format_default,
    reference_table,
    undocumented,
    with_reference,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = {
    "$defs": {"size": {"type": "array", "description": "[height, width]"}},
    "properties": {
        "convert": {
            "type": "object",
            "properties": {
                "size": {"$ref": "#/$defs/size", "description": "output size | pixels"},
                "crop": {"$ref": "#/$defs/size"},
                "strict": {"type": "boolean"},
            },
        },
        "table1": {"type": "array", "description": "one record per row"},
    },
}
PARAMS = {"convert": {"size": [8, 6], "crop": [4, 4], "strict": False}, "table1": [{"row": "a"}]}


def _rendered_reference():
    path = ROOT / "tools/params_reference.py"
    spec = importlib.util.spec_from_file_location("params_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rendered()


def test_a_keys_own_description_wins_over_its_definitions():
    keys = {e.key: e.description for e in described_keys(SCHEMA, PARAMS)}
    assert keys["convert.size"] == "output size | pixels"
    assert keys["convert.crop"] == "[height, width]"


def test_a_list_of_records_is_one_row():
    keys = [e.key for e in described_keys(SCHEMA, PARAMS)]
    assert keys == ["convert.size", "convert.crop", "table1"]


def test_a_leaf_without_a_description_is_reported():
    assert undocumented(SCHEMA, PARAMS) == ["convert.strict"]


def test_the_table_escapes_pipes_and_shows_defaults():
    table = reference_table(SCHEMA, PARAMS)
    assert "| `convert.size` | `[8, 6]` | output size \\| pixels |" in table.splitlines()


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "`null`"), (0.5, "`0.5`"), ("demo", "`demo`"), (list(range(40)), "see `params.yaml`")],
)
def test_defaults_are_yaml_flow_or_a_pointer_when_long(value, shown):
    assert format_default(value) == shown


def test_the_fences_are_required():
    with pytest.raises(ValueError, match="fences"):
        with_reference("no fences here", "| table |")


def test_only_the_fenced_text_is_replaced():
    document = f"intro\n{BEGIN}\nold\n{END}\noutro"
    assert with_reference(document, "new") == f"intro\n{BEGIN}\nnew\n{END}\noutro"


def test_every_key_of_params_yaml_is_described_in_the_schema():
    schema = load_yaml(ROOT / "workflow/schemas/params.schema.yaml")
    assert undocumented(schema, load_yaml(ROOT / "params.yaml")) == []


def test_docs_parameters_md_is_what_the_schema_generates():
    committed = (ROOT / "docs/parameters.md").read_text()
    assert committed == _rendered_reference(), "run `make docs` (tools/params_reference.py)"
