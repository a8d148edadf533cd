# Creates the MLflow store, the experiment and each group's parent run (tables 1-3, the sweep)
# once, before any job logs to it, so that parallel jobs never race on the SQLite schema
# migration. Jobs take its record as an ancient() input: pointing MLflow at another store reruns
# this rule only, never a training job.
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
