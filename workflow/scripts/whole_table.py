"""Snakemake adapter: Table 2 or 3 (ours beside the paper's) from the rows' result.json, and
its numbers as DVC metrics."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.summaries import TABLE_METRICS, table_metrics, write_metrics
from e2e_mammo.reporting.whole_tables import write_whole_table
from e2e_mammo.tracking import job_tracking, log_group_artifacts

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
frame = write_whole_table(
    [Path(p) for p in snakemake.input],
    snakemake.params.paper,
    Path(snakemake.output.csv),
    Path(snakemake.output.md),
    title=snakemake.params.title,
)
metrics = Path(snakemake.output.metrics)  # results/metrics/table2.json or table3.json
write_metrics(table_metrics(frame, TABLE_METRICS[metrics.stem]), metrics)
# the table's parent run holds the table
log_group_artifacts(
    job_tracking(snakemake.config, group=metrics.stem),
    metrics.stem,
    [snakemake.output.csv, snakemake.output.md],
)
