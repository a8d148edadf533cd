"""Snakemake adapter: the training set's mean grey value."""

from pathlib import Path

from e2e_mammo.data.stats import write_mean
from e2e_mammo.joblog import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
write_mean(
    Path(snakemake.input.manifest),
    Path(snakemake.input.splits),
    Path(snakemake.output[0]),
    split=snakemake.params.split,
)
