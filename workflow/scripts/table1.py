"""Snakemake adapter: collect every Table 1 row's result into table1.csv and table1.md,
and its numbers into results/metrics/table1.json (DVC metrics)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.summaries import TABLE_METRICS, table_metrics, write_metrics
from e2e_mammo.reporting.table1 import write_table1
from e2e_mammo.tracking import job_tracking, log_group_artifacts

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
frame = write_table1(
    snakemake.input, snakemake.params.paper, Path(snakemake.output.csv), Path(snakemake.output.md)
)
write_metrics(table_metrics(frame, TABLE_METRICS["table1"]), snakemake.output.metrics)
# the table's parent run holds the table
log_group_artifacts(
    job_tracking(snakemake.config, group="table1"),
    "table1",
    [snakemake.output.csv, snakemake.output.md],
)
