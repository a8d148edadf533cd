# Before any job runs (never in a dry run): create the MLflow store, the experiment and each
# table's parent run once, and record them in results/mlflow/experiment.json, which jobs read
# to find their table's parent. Parallel jobs thus never race on the SQLite schema migration.
# Where runs are recorded is not an input of any job: pointing `tracking` at another store
# retrains nothing (the next run records the new store and its parents).
onstart:
    ensure_store_record(workflow_tracking(config))
