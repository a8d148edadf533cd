"""MLflow 3 logged models that reference DVC-tracked weights, the registry and dataset inputs
(a real SQLite store in a temporary folder)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from e2e_mammo.logged_models import (
    REFERENCE_FILE,
    log_dataset_inputs,
    log_model_reference,
    model_name,
    register_model,
)
from e2e_mammo.tracking import TrackingConfig, start_run


@pytest.fixture()
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model file inside a DVC out of a project rooted at ``tmp_path``."""
    path = tmp_path / "results/whole_models/r50/model.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights" * 4096)
    monkeypatch.chdir(tmp_path)
    return Path("results/whole_models/r50/model.pt")


def _client(store: TrackingConfig):
    from mlflow.tracking import MlflowClient

    return MlflowClient(store.uri)


def test_model_names_drop_what_mlflow_forbids() -> None:
    assert (
        model_name("table4/whole_image/r50-s10/n20-s1.5") == "table4-whole_image-r50-s10-n20-s1-5"
    )


def test_a_trained_model_is_an_external_logged_model_pointing_at_dvc(
    store: TrackingConfig, model: Path
) -> None:
    with start_run(store, "table2/r50") as run:
        model_id = log_model_reference(run, model, {"test_auc": 0.8})
    logged = _client(store).get_logged_model(model_id)
    assert logged.tags["mlflow.model.isExternal"] == "true"
    assert logged.tags["model_path"] == model.as_posix()
    assert logged.tags["model_md5"] == hashlib.md5(model.read_bytes()).hexdigest()
    assert logged.tags["restore"] == "dvc pull results/whole_models"
    assert logged.source_run_id == run.run_id and logged.name == "table2-r50"


def test_the_logged_model_holds_a_reference_and_no_weights(
    store: TrackingConfig, model: Path, tmp_path: Path
) -> None:
    with start_run(store, "table2/r50") as run:
        model_id = log_model_reference(run, model, {"test_auc": 0.8})
    listed = {a.path for a in _client(store).list_logged_model_artifacts(model_id)}
    assert listed == {REFERENCE_FILE, "MLmodel"}  # MLflow's description of an external model
    stored = sum(p.stat().st_size for p in Path(store.artifacts).rglob("*") if p.is_file())
    assert stored < model.stat().st_size  # only the reference was stored


def test_the_runs_final_metrics_are_linked_to_its_model(store: TrackingConfig, model: Path) -> None:
    with start_run(store, "table2/r50") as run:
        model_id = log_model_reference(run, model, {"test_auc": 0.8})
    logged = _client(store).get_logged_model(model_id)
    assert {m.key: m.value for m in logged.metrics} == {"test_auc": 0.8}
    assert _client(store).get_run(run.run_id).data.metrics == {"test_auc": 0.8}
    outputs = _client(store).get_run(run.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [model_id]


def test_the_ensemble_is_registered_with_its_contexts_alias(
    store: TrackingConfig, model: Path
) -> None:
    with start_run(store, "ensemble/cbis-ddsm") as run:
        model_id = log_model_reference(run, model, {"auc": 0.7}, model_type="ensemble")
        version = register_model(run, model_id, "e2e-mammo-cbis-ddsm-ensemble", "synthetic-demo")
    found = _client(store).get_model_version_by_alias(
        "e2e-mammo-cbis-ddsm-ensemble", "synthetic-demo"
    )
    assert str(found.version) == version and found.source == f"models:/{model_id}"
    assert found.run_id == run.run_id


def test_a_second_registration_moves_the_alias(store: TrackingConfig, model: Path) -> None:
    versions = []
    for _ in range(2):
        with start_run(store, "ensemble/cbis-ddsm") as run:
            model_id = log_model_reference(run, model, {"auc": 0.7})
            versions.append(register_model(run, model_id, "ens", "synthetic-demo"))
    assert versions == ["1", "2"]
    assert _client(store).get_model_version_by_alias("ens", "synthetic-demo").version == 2


def test_split_tables_are_the_runs_dataset_inputs(store: TrackingConfig, tmp_path: Path) -> None:
    csv = tmp_path / "cbis-ddsm/splits.csv"
    csv.parent.mkdir()
    pd.DataFrame({"patient_id": ["P_1", "P_2"], "split": ["train", "val"]}).to_csv(csv, index=False)
    with start_run(store, "table2/r50") as run:
        log_dataset_inputs(run, [("splits", csv)])
    (logged,) = _client(store).get_run(run.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "cbis-ddsm/splits"
    assert json.loads(logged.dataset.source)["uri"] == csv.resolve().as_uri()
    assert [t.value for t in logged.tags if t.key == "mlflow.data.context"] == ["splits"]
    assert json.loads(logged.dataset.profile)["num_rows"] == 2


def test_without_tracking_the_run_records_what_it_would_log(model: Path) -> None:
    with start_run(TrackingConfig(enabled=False), "table2/r50") as run:
        assert log_model_reference(run, model, {"auc": 0.5}) is None
        register_model(run, None, "ens", "synthetic-demo")
    assert run.models[0]["model_path"] == model.as_posix() and run.registered == [
        ("ens", "synthetic-demo")
    ]
    assert run.metrics == [("auc", 0.5, None)]
