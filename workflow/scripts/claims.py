"""Snakemake adapter: the paper's claims as paired comparisons. input: rows, cells (result.json
of every Table 2/3 row and Table 4 cell), optional ensemble_summary, ensemble_predictions;
params: table2, table3, table4, sizes, bootstrap, note, optional sweep_note, paper_ensemble_auc."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.claims import ClaimSettings
from e2e_mammo.reporting.claims_stage import (
    ClaimInputs,
    paper_numbers,
    paper_table4_aucs,
    write_claims,
)
from e2e_mammo.tracking import job_tracking

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
params, given = snakemake.params, snakemake.input
summary, predictions = given.get("ensemble_summary"), given.get("ensemble_predictions")
inputs = ClaimInputs(
    row_results=[Path(p) for p in given.rows],
    paper=paper_numbers(params.table2, params.table3),
    ensemble_summary=Path(summary) if summary else None,
    ensemble_predictions=Path(predictions) if predictions else None,
    cell_results=[Path(p) for p in given.get("cells", [])],
)
settings = ClaimSettings(
    n_boot=int(params.bootstrap["n_boot"]),
    seed=int(params.bootstrap["seed"]),
    sizes=params.sizes,
    paper_table4=paper_table4_aucs(params.table4),
    not_run_switch=params.note,
    paper_ensemble_auc=params.get("paper_ensemble_auc"),
    sweep_switch=params.get("sweep_note", ""),
)
tracking = job_tracking(snakemake.config)
write_claims(inputs, settings, Path(snakemake.output.csv), Path(snakemake.output.md), tracking)
