"""Loading and validating ``params.yaml`` against its JSON schema, naming the bad key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from e2e_mammo.errors import ConfigError

SYNTHETIC = "synthetic"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a non-mapping is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def validate_params(
    params: dict[str, Any], schema_path: str | Path, source: str = "params.yaml"
) -> None:
    """Check ``params`` against the schema; raise :class:`ConfigError` listing every problem.

    Each problem reads ``<source>: <dotted.key>: <what is wrong>``.
    """
    schema = load_yaml(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.path))):
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{source}: {key}: {error.message}")
    if problems:
        raise ConfigError("invalid parameters:\n  " + "\n  ".join(problems))


def resolve_ref(schema: Any, root: dict) -> dict:
    """``schema`` with a local ``$ref`` (``#/$defs/name``) followed."""
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema if isinstance(schema, dict) else {}


def _branches(schema: dict, root: dict) -> list[dict]:
    """The schema and its ``oneOf``/``anyOf`` alternatives, each resolved."""
    out = [schema]
    for key in ("oneOf", "anyOf"):
        out += [resolve_ref(b, root) for b in schema.get(key, [])]
    return out


def _allows_string(schema: dict, root: dict) -> bool:
    for branch in _branches(schema, root):
        kind = branch.get("type")
        kinds = [kind] if isinstance(kind, str) else list(kind or [])
        values = [branch["const"]] if "const" in branch else list(branch.get("enum", []))
        if "string" in kinds or any(isinstance(v, str) for v in values):
            return True
    return False


def _container(schema: dict, root: dict, kind: str) -> dict:
    """The branch of ``schema`` that describes a value of JSON type ``kind``."""
    for branch in _branches(schema, root):
        if branch.get("type") == kind or (kind == "object" and "properties" in branch):
            return branch
    return {}


def coerce_to_schema(value: Any, schema: Any, root: dict | None = None) -> Any:
    """``value`` with every string that the schema does not allow as a string read as YAML
    (``"400"`` -> 400, ``"true"`` -> True): Snakemake's ``--config key=value`` gives strings
    only. Anything else is returned as it is, for the validation to judge."""
    root = schema if root is None else root
    schema = resolve_ref(schema, root)
    if isinstance(value, dict):
        branch = _container(schema, root, "object")
        props, extra = branch.get("properties", {}), branch.get("additionalProperties")
        default = extra if isinstance(extra, dict) else {}
        return {k: coerce_to_schema(v, props.get(k, default), root) for k, v in value.items()}
    if isinstance(value, list):
        items = _container(schema, root, "array").get("items", {})
        return [coerce_to_schema(v, items, root) for v in value]
    if isinstance(value, str) and schema and not _allows_string(schema, root):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return value if isinstance(parsed, str) else parsed
    return value


def is_synthetic(root: str) -> bool:
    """Whether a dataset root asks for the built-in synthetic dataset."""
    return root == SYNTHETIC


def data_kind(config: dict, *datasets: str) -> str:
    """``"synthetic"`` when the workflow config's ``data.<dataset>.root`` of any of
    ``datasets`` (a model trained on one and fine-tuned on another: both) is the built-in
    synthetic dataset, else ``"real"`` (recorded in model bundles; predict warns on synthetic)."""
    synthetic = any(is_synthetic(config["data"][d]["root"]) for d in datasets)
    return "synthetic" if synthetic else "real"


#: The switch that lets the paper scale run on the synthetic datasets (testing the profile).
ALLOW_SYNTHETIC = "scale.allow_synthetic"
_DATASET_KEYS = ("cbis_ddsm", "inbreast")


def check_scale(config: dict) -> None:
    """Refuse the paper scale on the built-in synthetic data: raise :class:`ConfigError` naming
    the setting to change, unless ``scale.allow_synthetic`` opts in."""
    scale = config["scale"]
    if scale["name"] != "paper" or scale["allow_synthetic"]:
        return
    synthetic = [f"data.{d}.root" for d in _DATASET_KEYS if is_synthetic(config["data"][d]["root"])]
    if synthetic:
        raise ConfigError(
            "the paper profile runs the paper's method on the real datasets, but "
            f"{' and '.join(synthetic)} {'is' if len(synthetic) == 1 else 'are'} 'synthetic': set "
            f"{' and '.join(synthetic)} in params.yaml to your download (docs/running.md, "
            f"'Using a real download'), or {ALLOW_SYNTHETIC}: true to test the profile on "
            "synthetic data"
        )


def numbers_kind(config: dict) -> str:
    """``"paper"`` when the run has the paper's scale on both real datasets, else ``"demo"``:
    what the report and tables call their numbers."""
    real = not any(is_synthetic(config["data"][d]["root"]) for d in _DATASET_KEYS)
    return "paper" if config["scale"]["name"] == "paper" and real else "demo"


def prepare_config(config: Mapping[str, Any], schema_path: str | Path) -> dict:
    """The config a workflow runs, from Snakemake's: ``--config key=value`` strings typed by
    the schema, validated against it (raises naming the key), the paper scale on synthetic data
    refused (:func:`check_scale`), and ``numbers`` added: ``demo`` or ``paper``, what the
    report's captions call the numbers (:func:`numbers_kind`)."""
    typed = coerce_to_schema(dict(config), load_yaml(schema_path))
    validate_params(typed, schema_path)
    check_scale(typed)
    typed["numbers"] = numbers_kind(typed)
    return typed
