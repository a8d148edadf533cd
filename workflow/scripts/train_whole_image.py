"""Snakemake adapter: train one Table 2/3 row (whole-image classifier) with MLflow tracking."""

from pathlib import Path

from e2e_mammo.config import data_kind
from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.settings import from_params
from e2e_mammo.plan.whole_rows import WholeRowSettings
from e2e_mammo.tracking import job_tracking
from e2e_mammo.training.devices import set_scale
from e2e_mammo.training.whole_stage import WholeRowInputs, train_whole_row


def main() -> None:
    snakemake = globals()["snakemake"]
    log_to_file(snakemake.log[0])
    set_scale(snakemake.config)  # paper-scale training refuses the CPU
    whole = snakemake.config["whole_image"]
    inputs = WholeRowInputs(
        splits_csv=Path(snakemake.input.splits),
        manifest_csv=Path(snakemake.input.manifest),
        patch_model=Path(snakemake.input.patch_model),
        out_dir=Path(snakemake.output.result).parent,
        # speed and memory only: read from the config, not params (they never rerun a job)
        workers=int(whole["workers"]),
        activation_checkpointing=bool(whole["activation_checkpointing"]),
        # recorded in the model bundle (the converted data already carries them)
        intensity=snakemake.config["convert"]["intensity"],
        data=data_kind(snakemake.config, "cbis_ddsm"),
    )
    train_whole_row(
        snakemake.wildcards.model,
        from_params(WholeRowSettings, snakemake.params.settings),
        inputs,
        snakemake.params.meta,
        tracking=job_tracking(
            snakemake.config,
            group=f"table{snakemake.params.meta['table']}",
        ),
        threads=snakemake.threads,
    )


# loader workers start with forkserver, which re-imports this script: train only in __main__
if __name__ == "__main__":
    main()
