# The paper's claims, computed (results/tables/claims.{csv,md}, one MLflow run): every comparison
# the paper draws as the difference of two AUCs on the same images, with a 95% patient-level
# paired bootstrap interval and a verdict (e2e_mammo.reporting.claims). Reads saved predictions;
# never reruns a model.
rule claims:
    input:
        rows=whole_results(2) + whole_results(3),
        predictions=expand(
            "results/whole_models/{model}/predictions.csv", model=TRAINED_WHOLE
        ),
        ensemble_summary="results/ensemble/cbis-ddsm/summary.json",
        ensemble_predictions="results/ensemble/cbis-ddsm/predictions.csv",
        cells=lambda w: transfer_cell_files("result.json"),
        cell_predictions=lambda w: transfer_cell_files("predictions.csv"),
    output:
        csv="results/tables/claims.csv",
        md="results/tables/claims.md",
    log:
        "logs/tables/claims.log",
    conda:
        ENV
    params:
        code=code("claims.py"),
        settings=to_params(PLAN.claims()),
        paper=PLAN.paper_row_aucs(),
    script:
        "../scripts/claims.py"
