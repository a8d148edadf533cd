"""Snakemake adapter: create the MLflow store, the experiment and each group's parent run once,
before any job logs (parallel jobs never race on the schema or on creating them)."""

import json
from pathlib import Path

from e2e_mammo.io import atomic_write_bytes
from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import GROUPS, TrackingConfig, create_groups, git_commit, init_store

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
config = TrackingConfig.from_params(snakemake.params.tracking)
experiment_id = init_store(config)
parents = create_groups(config, GROUPS, {"stage": "group", "git_commit": git_commit()})
record = {
    "uri": config.uri,
    "experiment": config.experiment,
    "experiment_id": experiment_id,
    "parents": parents,
}
atomic_write_bytes((json.dumps(record, indent=2) + "\n").encode(), Path(snakemake.output[0]))
