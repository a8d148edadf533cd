"""Snakemake adapter: write a built-in synthetic dataset in the real layout."""

from pathlib import Path

from e2e_mammo.datasets.cbis_ddsm.synthetic import synth_cbis_ddsm
from e2e_mammo.datasets.inbreast.synthetic import synth_inbreast
from e2e_mammo.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
cfg = snakemake.params.synthetic
out = Path(snakemake.output[0])
size = tuple(cfg["image_size"])
if snakemake.wildcards.dataset == "cbis-ddsm":
    synth_cbis_ddsm(out, cfg["n_patients"], size, cfg["seed"], layout=cfg["layout"])
else:
    synth_inbreast(out, cfg["n_patients"], size, cfg["seed"])
