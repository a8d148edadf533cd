"""Snakemake adapter: the pointing game of every trained patch classifier's heatmap
(results/tables/localisation.{csv,md}) and its numbers as DVC metrics."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.evaluations import LocalisationSettings
from e2e_mammo.plan.settings import from_params
from e2e_mammo.reporting.localisation_stage import LocalisationInputs, write_localisation
from e2e_mammo.reporting.summaries import TABLE_METRICS, table_metrics, write_metrics

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
given = snakemake.input
inputs = LocalisationInputs(
    splits_csv=Path(given.splits),
    manifest_csv=Path(given.manifest),
    masks_csv=Path(given.masks),
    patch_models=dict(zip(snakemake.params.rows, map(Path, given.models), strict=True)),
)
settings = from_params(LocalisationSettings, snakemake.params.settings)
out = snakemake.output
frame = write_localisation(inputs, settings, Path(out.csv), Path(out.md))
write_metrics(table_metrics(frame, TABLE_METRICS["localisation"]), out.metrics)
