"""Fixtures shared by several test modules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from e2e_mammo.tracking import TrackingConfig


@pytest.fixture(scope="session")
def migrated_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with its schema made (MLflow's migrations take seconds),
    copied by :func:`store` for each test."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("mlflow_template")
    store = SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts"))
    store.engine.dispose()
    return folder / "mlflow.db"


@pytest.fixture()
def store(tmp_path: Path, migrated_mlflow_db: Path) -> TrackingConfig:
    """A real MLflow SQLite store of its own in the test's temporary folder."""
    shutil.copy(migrated_mlflow_db, tmp_path / "mlflow.db")
    return TrackingConfig(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="test",
        artifacts=str(tmp_path / "artifacts"),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end pipeline module first: under ``-n 2 --dist loadfile`` (``make test-slow``)
    its tiny pipeline then runs beside the other modules instead of after them."""
    items.sort(key=lambda item: item.path.name != "test_workflow.py")


@pytest.fixture(scope="session")
def predict_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model bundles for the predict tests, built once per test process: ``ensemble``
    (two VGG16 members at 64x48, ``m0`` without and ``m1`` with its own heatmap layer) and
    ``m0``/``m1`` (the members' own bundles)."""
    from helpers.predict_cases import tiny_ensemble

    folder = tmp_path_factory.mktemp("predict_bundles")
    ensemble = tiny_ensemble(folder)
    return {"ensemble": ensemble, "m0": folder / "m0.pt", "m1": folder / "m1.pt"}
