"""Snakemake adapter: record a Table 1 row that cannot run here (result.json + MLflow run)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import job_tracking
from e2e_mammo.training.not_run import record_row_not_run

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
record_row_not_run(
    snakemake.params.row,
    snakemake.params.pretrained,
    Path(snakemake.output.result).parent,
    job_tracking(snakemake.config, group="table1"),
    left_out=snakemake.params.left_out,
)
