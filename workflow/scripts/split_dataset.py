"""Snakemake adapter: patient-level stratified splits of the converted images."""

from pathlib import Path

from e2e_mammo.data.split_stage import run_split
from e2e_mammo.joblog import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
run_split(Path(snakemake.input[0]), Path(snakemake.output.splits).parent, **snakemake.params.split)
