"""Snakemake adapter: train one Table 1 row (patch classifier) with MLflow tracking."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.patch_rows import PatchRowSettings
from e2e_mammo.plan.settings import from_params
from e2e_mammo.tracking import job_tracking
from e2e_mammo.training.devices import set_scale
from e2e_mammo.training.patch_stage import PatchRowFiles, train_patch_row

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
set_scale(snakemake.config)  # paper-scale training refuses the CPU
weights = snakemake.input.weights  # [] or the row's ImageNet file
weights = [weights] if isinstance(weights, str) else list(weights)
files = PatchRowFiles(
    patches_dir=Path(snakemake.input.patches[0]).parent,
    mean_json=Path(snakemake.input.mean),
    out_dir=Path(snakemake.output.result).parent,
    weights=Path(weights[0]) if weights else None,
)
# where runs are recorded does not change a result: read from the config, not params
tracking = job_tracking(snakemake.config, group="table1")
settings = from_params(PatchRowSettings, snakemake.params.settings)
train_patch_row(snakemake.wildcards.row, settings, files, tracking, snakemake.threads)
