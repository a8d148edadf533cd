"""Snakemake adapter: a dataset's ensemble and its ROC figure. CBIS-DDSM: one member per paper
family, each its family's best on validation, Youden's threshold on validation, scored on test
(Fig 3a). INbreast: the fine-tuned members as given, a fixed threshold, scored on its validation
split (Fig 3b)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.evaluations import EnsembleSettings
from e2e_mammo.plan.settings import from_params
from e2e_mammo.reporting.ensemble_stage import EnsembleOutputs, run_ensemble
from e2e_mammo.tracking import job_tracking

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
settings = from_params(EnsembleSettings, snakemake.params.settings)
outputs = EnsembleOutputs(
    out_dir=Path(snakemake.output.summary).parent,
    roc_png=Path(snakemake.output.roc),
    roc_points_csv=Path(snakemake.output.roc_points),
    bundle=Path(snakemake.output.bundle),
)
inputs = [Path(p) for p in snakemake.input.results]
run_ensemble(inputs, settings, outputs, job_tracking(snakemake.config))
