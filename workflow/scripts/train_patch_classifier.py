"""Snakemake adapter: train one Table 1 row (patch classifier) with MLflow tracking."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.tracking import job_tracking
from e2e_mammo.training.devices import set_scale
from e2e_mammo.training.patch_run import train_patch_row

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
set_scale(snakemake.config)  # paper-scale training refuses the CPU
weights = snakemake.input.weights  # [] or the row's ImageNet file
weights = [weights] if isinstance(weights, str) else list(weights)
train_patch_row(
    snakemake.wildcards.row,
    snakemake.params.settings,
    Path(snakemake.input.patches[0]).parent,
    Path(snakemake.input.mean),
    Path(snakemake.output.result).parent,
    # where runs are recorded does not change a result: read from the config, not params
    tracking=job_tracking(snakemake.config, group="table1"),
    weights=Path(weights[0]) if weights else None,
    threads=snakemake.threads,
)
