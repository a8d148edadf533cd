"""Snakemake adapter: index a CBIS-DDSM or INbreast tree into images.csv (+ rois.csv)."""

from pathlib import Path

from e2e_mammo.datasets.cbis_ddsm.index import index_cbis_ddsm
from e2e_mammo.datasets.inbreast.index import index_inbreast
from e2e_mammo.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
root = Path(snakemake.input.root)
out = Path(snakemake.output.images).parent
strict = snakemake.params.strict
if "rois" in snakemake.output.keys():
    index_cbis_ddsm(
        root,
        out,
        csv_dir=Path(snakemake.params.csv_dir),
        strict=strict,
        official_overlap=snakemake.params.official_overlap,
    )
else:
    index_inbreast(root, out, strict=strict)
