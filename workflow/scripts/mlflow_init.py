"""Snakemake adapter: create the MLflow store and experiment once."""

import json
from pathlib import Path

from e2e_mammo.io import atomic_write_bytes
from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import TrackingConfig, init_store

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
config = TrackingConfig.from_params(snakemake.params.tracking)
experiment_id = init_store(config)
record = {"uri": config.uri, "experiment": config.experiment, "experiment_id": experiment_id}
atomic_write_bytes((json.dumps(record, indent=2) + "\n").encode(), Path(snakemake.output[0]))
