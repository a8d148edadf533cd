"""Snakemake adapter: one MLflow run that groups a sweep's runs (they name it as their parent)."""

from pathlib import Path

from e2e_mammo.io import atomic_write_json
from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import TrackingConfig, create_parent_run, git_commit

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
group = snakemake.wildcards.group
config = TrackingConfig.from_params(snakemake.params.tracking)
tags = {"stage": "group", "group": group, "git_commit": git_commit()}
run_id = create_parent_run(config, group, tags)
atomic_write_json({"group": group, "run_id": run_id}, Path(snakemake.output[0]))
