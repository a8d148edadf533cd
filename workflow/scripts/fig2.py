"""Snakemake adapter: Fig 2 (training and validation loss of two rows)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.figure_stage import write_fig2

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
write_fig2([Path(p) for p in snakemake.input], Path(snakemake.output[0]))
