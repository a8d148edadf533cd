"""Snakemake adapter: the two-step baseline (heatmap features + random forest), Table 2."""

from pathlib import Path

from e2e_mammo.evaluation.two_step_stage import TwoStepInputs, run_two_step
from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.settings import from_params
from e2e_mammo.plan.whole_rows import TwoStepSettings
from e2e_mammo.tracking import job_tracking

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
inputs = TwoStepInputs(
    splits_csv=Path(snakemake.input.splits),
    manifest_csv=Path(snakemake.input.manifest),
    patch_model=Path(snakemake.input.patch_model),
    out_dir=Path(snakemake.output.result).parent,
)
run_two_step(
    snakemake.wildcards.model,
    from_params(TwoStepSettings, snakemake.params.settings),
    inputs,
    snakemake.params.meta,
    tracking=job_tracking(
        snakemake.config,
        group=f"table{snakemake.params.meta['table']}",
    ),
    threads=snakemake.threads,
)
