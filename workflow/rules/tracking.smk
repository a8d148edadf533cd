# Creates the MLflow store and experiment once, before any training job logs to it, so that
# parallel jobs never race on the SQLite schema migration.
rule mlflow_init:
    output:
        "results/mlflow/experiment.json",
    log:
        "logs/mlflow_init.log",
    conda:
        ENV
    params:
        tracking=config["tracking"],
    script:
        "../scripts/mlflow_init.py"
