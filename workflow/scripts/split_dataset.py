"""Snakemake adapter: patient-level stratified splits of the converted images."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.preprocess.split_stage import run_split

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
run_split(Path(snakemake.input[0]), Path(snakemake.output.splits).parent, **snakemake.params.split)
