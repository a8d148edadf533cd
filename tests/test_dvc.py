"""dvc.yaml stays consistent with params.yaml and the Snakemake outputs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _stage() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["pipeline"]


def test_every_dvc_param_is_a_params_yaml_section() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(_stage()["params"]) <= set(params)


def test_every_science_section_is_tracked_by_dvc() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(params) - set(_stage()["params"]) == {"tracking"}


def test_every_dvc_out_is_written_by_a_rule() -> None:
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    written = set(re.findall(r'"(results/[^/"{]+)/', rules))
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in _stage()["outs"]}
    # and Snakemake's records of them, and the MLflow store record the workflow's onstart writes
    assert outs == written | {".snakemake/metadata", "results/mlflow"}


def test_every_repro_runs_snakemake_which_decides() -> None:
    stage = _stage()
    assert stage["always_changed"] is True
    assert "$E2E_MAMMO_SNAKEMAKE_ARGS" in stage["cmd"]


def test_metrics_and_plots_are_kept_in_git() -> None:
    outs = {next(iter(o)): next(iter(o.values())) for o in _stage()["outs"] if isinstance(o, dict)}
    for path in ("results/metrics", "results/plots"):
        assert outs[path]["cache"] is False
        assert f"!{path}/" in (ROOT / ".gitignore").read_text().splitlines()
