"""Snakemake adapter: sample one patch set (S1, S10, ...) from the converted CBIS-DDSM images."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.preprocess.patches import SamplingOptions, extract_patch_set

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
extract_patch_set(
    Path(snakemake.input.manifest),
    Path(snakemake.input.masks),
    Path(snakemake.input.splits),
    Path(snakemake.output.counts).parent,
    snakemake.wildcards.patch_set,
    SamplingOptions(**snakemake.params.sampling),
)
