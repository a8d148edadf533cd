"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_mammo.tracking import TrackingConfig


@pytest.fixture()
def store(tmp_path: Path) -> TrackingConfig:
    """A real MLflow SQLite store in the test's temporary folder."""
    return TrackingConfig(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="test",
        artifacts=str(tmp_path / "artifacts"),
    )
