"""Tests for the MLflow tracking module (SQLite store in a temporary folder)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from e2e_mammo.tracking import TrackingConfig, flatten, init_store, start_run


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


def test_job_tracking_reads_the_groups_parent_from_the_store_record(tmp_path: Path) -> None:
    import json

    from e2e_mammo.tracking import job_tracking

    record = tmp_path / "experiment.json"
    record.write_text(json.dumps({"parents": {"table2": "abc123"}}))
    config = job_tracking({"uri": "sqlite:///x.db"}, record, "table2")
    assert config.parent_run_id == "abc123" and config.uri == "sqlite:///x.db"
    assert job_tracking({}, record).parent_run_id is None


def test_job_tracking_names_a_missing_group(tmp_path: Path) -> None:
    import json

    from e2e_mammo.tracking import job_tracking

    record = tmp_path / "experiment.json"
    record.write_text(json.dumps({"parents": {}}))
    with pytest.raises(KeyError, match="table3"):
        job_tracking({}, record, "table3")


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


def test_store_record_names_the_store_and_each_groups_parent(
    store: TrackingConfig, tmp_path: Path
) -> None:
    import json

    from e2e_mammo.tracking import GROUPS, ensure_store_record

    record = ensure_store_record(store, tmp_path / "experiment.json")
    assert json.loads((tmp_path / "experiment.json").read_text()) == record
    assert record["uri"] == store.uri and sorted(record["parents"]) == sorted(GROUPS)


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
