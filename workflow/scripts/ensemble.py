"""Snakemake adapter: the CBIS-DDSM ensemble (members chosen on validation) and Fig 3a."""

from pathlib import Path

from e2e_mammo.evaluation.ensemble_stage import run_ensemble
from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import TrackingConfig

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
out_dir = Path(snakemake.output.summary).parent
run_ensemble(
    [Path(p) for p in snakemake.input.results],
    dataset="cbis-ddsm",
    k=snakemake.params.k,
    bootstrap=snakemake.params.bootstrap,
    out_dir=out_dir,
    tracking=TrackingConfig.from_params(snakemake.config["tracking"]),
    roc_png=Path(snakemake.output.roc),
)
