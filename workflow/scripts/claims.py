"""Snakemake adapter: the paper's claims as paired comparisons. input: rows, cells (result.json
of every Table 2/3 row and Table 4 cell), optional ensemble_summary, ensemble_predictions;
params: settings (the plan's ClaimSettings), paper (the paper's AUCs of the Table 2/3 rows)."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.plan.evaluations import ClaimSettings
from e2e_mammo.plan.settings import from_params
from e2e_mammo.reporting.claims_stage import ClaimInputs, write_claims
from e2e_mammo.tracking import job_tracking

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
params, given = snakemake.params, snakemake.input
summary, predictions = given.get("ensemble_summary"), given.get("ensemble_predictions")
inputs = ClaimInputs(
    row_results=[Path(p) for p in given.rows],
    paper=params.paper,
    ensemble_summary=Path(summary) if summary else None,
    ensemble_predictions=Path(predictions) if predictions else None,
    cell_results=[Path(p) for p in given.get("cells", [])],
)
settings = from_params(ClaimSettings, params.settings)
tracking = job_tracking(snakemake.config)
write_claims(inputs, settings, Path(snakemake.output.csv), Path(snakemake.output.md), tracking)
