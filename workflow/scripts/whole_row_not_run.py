"""Snakemake adapter: record a Table 2/3 row that does not train, with why and how."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import job_tracking
from e2e_mammo.training.not_run import record_not_run

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
info = snakemake.params.info
record_not_run(
    info["row"],
    info["meta"],
    info["status"],
    info["reason"],
    Path(snakemake.output.result).parent,
    job_tracking(snakemake.config, group=f"table{info['meta']['table']}"),
)
