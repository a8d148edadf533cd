"""Snakemake adapter: convert the indexed DICOMs to 16-bit PNGs and 8-bit masks."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.preprocess.convert.stage import convert_dataset

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
convert_dataset(
    Path(snakemake.input.images),
    Path(snakemake.output.manifest).parent,
    size=tuple(snakemake.params.size),
    threads=snakemake.threads,
    rois_csv=Path(snakemake.input.rois) if snakemake.input.rois else None,
    intensity=snakemake.params.intensity,
    strict=snakemake.params.strict,
)
