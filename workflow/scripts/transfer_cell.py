"""Snakemake adapter: fine-tune one Table 4 cell on INbreast, as a child of the sweep's run."""

from pathlib import Path

from e2e_mammo.config import data_kind
from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.settings import from_params
from e2e_mammo.plan.transfer_cells import TransferCellSettings
from e2e_mammo.tracking import job_tracking
from e2e_mammo.training.devices import set_scale
from e2e_mammo.training.transfer_stage import TransferInputs, fine_tune_cell


def main() -> None:
    snakemake = globals()["snakemake"]
    log_to_file(snakemake.log[0])
    set_scale(snakemake.config)  # paper-scale training refuses the CPU
    inputs = TransferInputs(
        splits_csv=Path(snakemake.input.splits),
        manifest_csv=Path(snakemake.input.manifest),
        mean_json=Path(snakemake.input.mean),
        init_model=Path(snakemake.input.init_model),
        out_dir=Path(snakemake.output.result).parent,
        # speed only: read from the config, not params (it never reruns a job)
        workers=int(snakemake.config["whole_image"]["workers"]),
        # recorded in the model bundle (the converted data already carries them)
        intensity=snakemake.config["convert"]["intensity"],
        data=data_kind(snakemake.config, "cbis_ddsm", "inbreast"),
    )
    fine_tune_cell(
        snakemake.wildcards.model,
        from_params(TransferCellSettings, snakemake.params.settings),
        inputs,
        tracking=job_tracking(snakemake.config, group="table4-sweep"),
        threads=snakemake.threads,
    )


# loader workers start with forkserver, which re-imports this script: train only in __main__
if __name__ == "__main__":
    main()
