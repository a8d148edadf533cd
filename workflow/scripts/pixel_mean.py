"""Snakemake adapter: the training set's mean grey value."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.preprocess.stats import write_mean

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
write_mean(
    Path(snakemake.input.manifest),
    Path(snakemake.input.splits),
    Path(snakemake.output[0]),
    split=snakemake.params.split,
)
