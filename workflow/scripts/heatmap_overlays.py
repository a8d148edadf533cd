"""Snakemake adapter: heatmap overlays of a few test images (Figure 1's idea)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.evaluations import OverlaySettings
from e2e_mammo.plan.settings import from_params
from e2e_mammo.reporting.figure_stage import write_heatmap_overlays

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
write_heatmap_overlays(
    Path(snakemake.input.splits),
    Path(snakemake.input.manifest),
    Path(snakemake.input.patch_model),
    from_params(OverlaySettings, snakemake.params.settings),
    Path(snakemake.output[0]),
)
