"""Snakemake adapter: results/tables/ensemble.csv, one row per dataset's ensemble,
and results/metrics/ensemble.json (DVC metrics)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.ensemble_stage import write_ensemble_table
from e2e_mammo.reporting.summaries import TABLE_METRICS, table_metrics, write_metrics

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
frame = write_ensemble_table([Path(p) for p in snakemake.input], Path(snakemake.output.csv))
metrics = table_metrics(frame, TABLE_METRICS["ensemble"], key="dataset")
write_metrics(metrics, snakemake.output.metrics)
