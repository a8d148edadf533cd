"""Snakemake adapter: results/tables/ensemble.csv, one row per dataset's ensemble."""

from pathlib import Path

from e2e_mammo.evaluation.ensemble_stage import write_ensemble_table
from e2e_mammo.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
write_ensemble_table([Path(p) for p in snakemake.input], Path(snakemake.output[0]))
