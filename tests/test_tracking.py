"""Tests for the MLflow tracking module (SQLite store in a temporary folder)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from e2e_mammo.tracking import PARENT_TAG, TrackingConfig, flatten, init_store, start_run


def test_disabled_tracking_keeps_records_in_memory() -> None:
    with start_run(TrackingConfig(enabled=False), "row") as run:
        run.log_params({"model": {"arch": "resnet50"}})
        run.log_metrics({"val_accuracy": 0.5}, step=1)
    assert run.run_id is None
    assert run.params == {"model.arch": "resnet50"}
    assert run.metrics == [("val_accuracy", 0.5, 1)]


def test_run_logs_params_metrics_tags_and_artifact(store: TrackingConfig, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    curve = tmp_path / "curve.csv"
    curve.write_text("epoch,loss\n1,0.5\n")
    with start_run(store, "table1/row", tags={"table": "1", "row": "r"}) as run:
        run.log_params({"lr": 1e-3})
        for epoch in (1, 2):
            run.log_metrics({"train_loss": 1.0 / epoch}, step=epoch)
        run.log_artifact(curve)
    client = MlflowClient(tracking_uri=store.uri)
    logged = client.get_run(run.run_id)
    assert logged.data.params["lr"] == "0.001"
    assert logged.data.tags["table"] == "1"
    history = client.get_metric_history(run.run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.0), (2, 0.5)]
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["curve.csv"]


def test_init_store_is_idempotent(store: TrackingConfig) -> None:
    assert init_store(store) == init_store(store)


def _one_run(config: TrackingConfig, name: str) -> str:
    with start_run(config, name) as run:
        run.log_metrics({"x": 1.0}, step=1)
    return run.run_id


def test_parallel_jobs_after_init_lose_no_run(store: TrackingConfig) -> None:
    from mlflow.tracking import MlflowClient

    experiment_id = init_store(store)
    with mp.get_context("spawn").Pool(2) as pool:
        ids = pool.starmap(_one_run, [(store, f"r{i}") for i in range(4)])
    runs = MlflowClient(tracking_uri=store.uri).search_runs([experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(ids)


def test_flatten_nested_keys() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_resumed_run_continues_the_same_run(store: TrackingConfig) -> None:
    from mlflow.tracking import MlflowClient

    with start_run(store, "job") as first:
        first.log_metrics({"val_loss": 1.0}, step=1)
    with start_run(store, "job", resume_run_id=first.run_id) as second:
        second.log_metrics({"val_loss": 0.5}, step=2)
        assert second.logged_steps("val_loss") == {1, 2}
    client = MlflowClient(tracking_uri=store.uri)
    assert second.run_id == first.run_id
    assert len(client.search_runs([init_store(store)])) == 1


def test_interrupted_run_ends_killed(store: TrackingConfig) -> None:
    from mlflow.tracking import MlflowClient

    with pytest.raises(KeyboardInterrupt), start_run(store, "job") as run:
        raise KeyboardInterrupt
    assert MlflowClient(tracking_uri=store.uri).get_run(run.run_id).info.status == "KILLED"


def test_failed_run_ends_failed(store: TrackingConfig) -> None:
    from mlflow.tracking import MlflowClient

    with pytest.raises(RuntimeError), start_run(store, "job") as run:
        raise RuntimeError("boom")
    assert MlflowClient(tracking_uri=store.uri).get_run(run.run_id).info.status == "FAILED"


def test_parent_run_groups_runs_started_elsewhere(store: TrackingConfig) -> None:
    from mlflow.tracking import MlflowClient

    from e2e_mammo.tracking import PARENT_TAG, create_parent_run

    parent = create_parent_run(store, "table4-sweep", {"group": "table4-sweep"})
    with start_run(store, "cell", tags={PARENT_TAG: parent}) as run:
        pass
    client = MlflowClient(tracking_uri=store.uri)
    assert client.get_run(parent).info.status == "FINISHED"
    assert client.get_run(run.run_id).data.tags[PARENT_TAG] == parent


def test_parent_run_without_tracking_is_none() -> None:
    from e2e_mammo.tracking import create_parent_run

    assert create_parent_run(TrackingConfig(enabled=False), "sweep") is None


def test_config_with_a_parent_makes_every_run_its_child(store: TrackingConfig) -> None:
    from dataclasses import replace

    from mlflow.tracking import MlflowClient

    from e2e_mammo.tracking import PARENT_TAG, create_parent_run

    parent = create_parent_run(store, "table1")
    with start_run(replace(store, parent_run_id=parent), "table1/row") as run:
        pass
    tags = MlflowClient(tracking_uri=store.uri).get_run(run.run_id).data.tags
    assert tags[PARENT_TAG] == parent


def test_create_groups_gives_each_group_a_finished_parent(store: TrackingConfig) -> None:
    from mlflow.tracking import MlflowClient

    from e2e_mammo.tracking import create_groups

    parents = create_groups(store, ["table1", "table2"], {"git_commit": "abc"})
    client = MlflowClient(tracking_uri=store.uri)
    for group, run_id in parents.items():
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.tags["group"] == group
        assert run.info.run_name == group


def _workflow_config(tracking: dict, data: str = "synthetic", scale: str = "demo") -> dict:
    """The parts of a workflow config that tracking reads."""
    root = "synthetic" if data == "synthetic" else "/data/real"
    return {
        "tracking": tracking,
        "scale": {"name": scale, "allow_synthetic": True},
        "data": {"cbis_ddsm": {"root": root}, "inbreast": {"root": root}},
    }


def test_job_tracking_reads_the_groups_parent_of_its_context(tmp_path: Path) -> None:
    import json

    from e2e_mammo.tracking import job_tracking

    record = tmp_path / "experiment.json"
    parents = {"synthetic-demo": {"table2": "abc123", "superseded": "old1"}}
    record.write_text(json.dumps({"parents": parents}))
    config = job_tracking(_workflow_config({"uri": "sqlite:////x.db"}), record, "table2")
    assert config.parent_run_id == "abc123" and config.uri == "sqlite:////x.db"
    assert config.superseded_parent_id == "old1" and config.tags["e2e.data"] == "synthetic"
    assert job_tracking(_workflow_config({}), record).parent_run_id is None


def test_job_tracking_names_a_missing_group_and_its_context(tmp_path: Path) -> None:
    import json

    from e2e_mammo.tracking import job_tracking

    record = tmp_path / "experiment.json"
    record.write_text(json.dumps({"parents": {"synthetic-demo": {"table3": "abc"}}}))
    with pytest.raises(KeyError, match="table3.*real-paper"):
        job_tracking(_workflow_config({}, "real", "paper"), record, "table3")


def test_relative_store_paths_resolve_against_the_project_root(tmp_path: Path) -> None:
    from e2e_mammo.tracking import resolve_store

    uri, artifacts = resolve_store("sqlite:///mlflow.db", "mlartifacts", tmp_path)
    assert uri == f"sqlite:///{tmp_path}/mlflow.db" and artifacts == str(tmp_path / "mlartifacts")
    assert resolve_store("sqlite:////abs/m.db", "s3://b/a", tmp_path) == (
        "sqlite:////abs/m.db",
        "s3://b/a",
    )
    assert resolve_store("http://host:5000", "a", tmp_path)[0] == "http://host:5000"


def test_mlflow_tracking_uri_wins_over_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from e2e_mammo.tracking import resolve_store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert resolve_store("sqlite:///mlflow.db", "a", tmp_path)[0] == "http://tracking.example:5000"


def test_project_root_is_dvc_root_under_a_dvc_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from e2e_mammo.tracking import project_root

    temp_copy = tmp_path / ".dvc/tmp/exps/tmpabc"
    temp_copy.mkdir(parents=True)
    monkeypatch.chdir(temp_copy)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    config = TrackingConfig.from_params({"uri": "sqlite:///mlflow.db"})
    assert project_root() == tmp_path.resolve()
    assert config.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_context_tags_name_data_scale_commit_and_dvc_experiment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from e2e_mammo.tracking import context_tags

    monkeypatch.setenv("DVC_EXP_NAME", "lucky-lamb")
    tags = context_tags(_workflow_config({}, "real", "paper"))
    assert tags["e2e.data"] == "real" and tags["e2e.scale"] == "paper"
    assert tags["e2e.numbers"] == "paper" and tags["e2e.dvc_exp"] == "lucky-lamb"
    assert tags["git_commit"].startswith(tags["mlflow.source.git.commit"])
    assert context_tags(_workflow_config({}))["e2e.numbers"] == "demo"


def test_model_tags_name_the_dvc_folder_and_the_files_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from e2e_mammo.tracking import model_tags

    model = tmp_path / "results/whole_models/row/model.pt"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"weights" * 1000)
    monkeypatch.chdir(tmp_path)
    tags = model_tags(Path("results/whole_models/row/model.pt"))
    assert tags == {
        "model_path": "results/whole_models/row/model.pt",
        "dvc_out": "results/whole_models",
        "model_md5": hashlib.md5(model.read_bytes()).hexdigest(),
    }


def test_server_uri_leaves_artifacts_to_the_server() -> None:
    assert TrackingConfig(uri="http://127.0.0.1:5000").is_server
    assert not TrackingConfig(uri="sqlite:///mlflow.db").is_server


def _in_context(store: TrackingConfig, data: str, scale: str = "demo") -> TrackingConfig:
    from dataclasses import replace

    return replace(store, tags={"e2e.data": data, "e2e.scale": scale})


def test_store_record_names_the_store_and_each_groups_parent(
    store: TrackingConfig, tmp_path: Path
) -> None:
    import json

    from e2e_mammo.tracking import GROUPS, ensure_store_record

    record = ensure_store_record(_in_context(store, "synthetic"), tmp_path / "experiment.json")
    assert json.loads((tmp_path / "experiment.json").read_text()) == record
    assert record["uri"] == store.uri and sorted(record["parents"]["synthetic-demo"]) == sorted(
        GROUPS
    )


def test_synthetic_and_real_runs_never_share_a_parent(
    store: TrackingConfig, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from e2e_mammo.tracking import ensure_store_record

    path = tmp_path / "experiment.json"
    ensure_store_record(_in_context(store, "synthetic"), path)
    record = ensure_store_record(_in_context(store, "real"), path)
    synthetic, real = record["parents"]["synthetic-demo"], record["parents"]["real-demo"]
    assert not set(synthetic.values()) & set(real.values())
    parent = MlflowClient(store.uri).get_run(real["table1"])
    assert parent.info.run_name == "table1 (real, demo)" and parent.data.tags["e2e.data"] == "real"
    assert ensure_store_record(_in_context(store, "synthetic"), path) == record  # both kept


def test_store_record_is_kept_while_it_describes_the_store(
    store: TrackingConfig, tmp_path: Path
) -> None:
    from e2e_mammo.tracking import ensure_store_record

    first = ensure_store_record(store, tmp_path / "experiment.json")
    assert ensure_store_record(store, tmp_path / "experiment.json") == first


def test_store_record_is_renewed_for_another_store(store: TrackingConfig, tmp_path: Path) -> None:
    from dataclasses import replace

    from e2e_mammo.tracking import ensure_store_record

    first = ensure_store_record(store, tmp_path / "experiment.json")
    other = replace(store, uri=f"sqlite:///{tmp_path / 'other.db'}")
    second = ensure_store_record(other, tmp_path / "experiment.json")
    assert second["uri"] == other.uri and second["parents"] != first["parents"]


def _grouped(store: TrackingConfig, tmp_path: Path, data: str = "synthetic") -> TrackingConfig:
    """``store`` in a context, its runs children of table1's parent (as jobs get it)."""
    from dataclasses import replace

    from e2e_mammo.tracking import ensure_store_record, record_parents

    config = _in_context(store, data)
    parents = record_parents(ensure_store_record(config, tmp_path / "e.json"), config.context)
    return replace(
        config, parent_run_id=parents["table1"], superseded_parent_id=parents["superseded"]
    )


def test_a_rerun_supersedes_the_earlier_run_of_its_row(
    store: TrackingConfig, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    config = _grouped(store, tmp_path)
    with start_run(config, "table1/r50") as first:
        pass
    with start_run(config, "table1/r50") as second:
        pass
    client = MlflowClient(store.uri)
    old, new = client.get_run(first.run_id).data.tags, client.get_run(second.run_id).data.tags
    assert old["e2e.superseded_by"] == second.run_id and old["e2e.current"] == "false"
    assert old[PARENT_TAG] == config.superseded_parent_id
    assert old["e2e.superseded_parent"] == config.parent_run_id
    assert new[PARENT_TAG] == config.parent_run_id and new["e2e.current"] == "true"
    assert new["e2e.supersedes"] == first.run_id


def test_the_table_parent_shows_one_current_run_per_row(
    store: TrackingConfig, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    config = _grouped(store, tmp_path)
    for name in ("table1/a", "table1/b", "table1/a", "table1/a"):
        with start_run(config, name):
            pass
    experiment = MlflowClient(store.uri).get_experiment_by_name(store.experiment)
    children = MlflowClient(store.uri).search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{config.parent_run_id}'"
    )
    assert sorted(r.info.run_name for r in children) == ["table1/a", "table1/b"]


def test_a_rerun_in_another_context_supersedes_nothing(
    store: TrackingConfig, tmp_path: Path
) -> None:
    from dataclasses import replace

    from mlflow.tracking import MlflowClient

    synthetic = _grouped(store, tmp_path)
    with start_run(replace(synthetic, parent_run_id=None), "claims") as first:
        pass
    with start_run(replace(_in_context(store, "real"), parent_run_id=None), "claims"):
        pass
    assert "e2e.superseded_by" not in MlflowClient(store.uri).get_run(first.run_id).data.tags


def test_a_locked_store_is_retried(store: TrackingConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    import mlflow
    from mlflow.tracking import MlflowClient

    from e2e_mammo import tracking

    monkeypatch.setattr(tracking, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    real, failures = mlflow.log_metrics, []

    def flaky(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "log_metrics", flaky)
    with start_run(store, "locked") as run:
        run.log_metrics({"auc": 0.7})
    assert len(failures) == 2
    assert MlflowClient(store.uri).get_run(run.run_id).data.metrics == {"auc": 0.7}


def test_a_dataset_row_inserted_by_a_parallel_job_is_retried(monkeypatch: pytest.MonkeyPatch):
    from mlflow.exceptions import MlflowException

    from e2e_mammo import tracking

    monkeypatch.setattr(tracking, "RETRY_DELAYS", (0.0,))
    calls = []

    def raced():
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                "datasets.name, datasets.digest"
            )
        return "linked"

    assert tracking.retrying(raced) == "linked" and len(calls) == 2


def test_a_lasting_or_non_transient_error_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from e2e_mammo import tracking

    monkeypatch.setattr(tracking, "RETRY_DELAYS", (0.0, 0.0))
    calls = []

    def locked():
        calls.append(1)
        raise ConnectionError("connection refused")

    with pytest.raises(ConnectionError):
        tracking.retrying(locked)
    assert len(calls) == 3
    with pytest.raises(ValueError):
        tracking.retrying(lambda: (calls.append(1), int("x")))
    assert len(calls) == 4  # a programming error: no retry


def test_a_tables_parent_holds_its_table(store: TrackingConfig, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from e2e_mammo.tracking import log_group_artifacts

    config = _grouped(store, tmp_path)
    csv, md = tmp_path / "table1.csv", tmp_path / "table1.md"
    csv.write_text("row,auc\na,0.5\n")
    md.write_text("| row |\n")
    log_group_artifacts(config, "table1", [csv, md])
    listed = MlflowClient(store.uri).list_artifacts(config.parent_run_id)
    assert sorted(a.path for a in listed) == ["table1.csv", "table1.md"]


def test_a_workspace_without_a_record_reuses_the_stores_parents(
    store: TrackingConfig, tmp_path: Path
) -> None:
    from e2e_mammo.tracking import ensure_store_record

    config = _in_context(store, "synthetic")
    first = ensure_store_record(config, tmp_path / "project/experiment.json")
    second = ensure_store_record(config, tmp_path / "dvc-exp-copy/experiment.json")
    assert second["parents"] == first["parents"]
