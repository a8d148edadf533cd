"""Snakemake adapter: Table 4 (ours beside the paper's) its plot and DVC
metrics from the cells' result.json."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.figures import plot_sweep
from e2e_mammo.reporting.summaries import sweep_metrics, write_metrics
from e2e_mammo.reporting.table4 import write_table4
from e2e_mammo.tracking import job_tracking, log_group_artifacts

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
frame = write_table4(
    [Path(p) for p in snakemake.input],
    snakemake.params.sizes,
    snakemake.params.paper,
    snakemake.params.note,
    Path(snakemake.output.csv),
    Path(snakemake.output.md),
)
title = (
    "INbreast validation AUC against training patients (Table 4; "
    "the demo's numbers are not the paper's)"
)
plot_sweep(frame, Path(snakemake.output.plot), title)
write_metrics(sweep_metrics(frame), snakemake.output.metrics)
# the sweep's parent run holds the table and its figure
log_group_artifacts(
    job_tracking(snakemake.config, group="table4-sweep"),
    "table4-sweep",
    [snakemake.output.csv, snakemake.output.md, snakemake.output.plot],
)
