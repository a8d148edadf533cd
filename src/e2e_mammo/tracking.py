"""MLflow tracking for every training job: one run per job, identical metric keys across rows.

* Store: a local SQLite database (``sqlite:///mlflow.db`` at the project root by default) with
  artifacts under ``mlartifacts/``; both configurable (``tracking`` in params.yaml).
* Telemetry is off (``MLFLOW_DISABLE_TELEMETRY``, ``DO_NOT_TRACK``), nothing leaves the machine.
* :func:`init_store` creates the database schema and the experiment once;
  :func:`ensure_store_record` (the workflow's ``onstart``, before any job) runs it and records
  the store in ``results/mlflow/experiment.json``, so that parallel jobs never race on the schema
  migration or on experiment creation ("database is locked", lost runs). Where runs are recorded
  is not an input of any job: pointing MLflow at another store retrains nothing.
* Each table, sweep and ensemble is a group: one parent run whose children are its rows
  (:data:`GROUPS`, created by :func:`create_groups` with the store record; an ensemble's run is the
  parent of its members' runs), so MLflow's UI shows each table as a group.
* A run that made a model carries its DVC path and content hash (:func:`model_tags`); the
  weights themselves live in DVC only, never twice.
* The store may be an ``mlflow server`` (``http://...``): then the server keeps the artifacts.
* ``enabled: false`` (unit tests) turns every call into a no-op while keeping the records in
  memory, so code paths are the same with and without a store.

Only the datasets' own anonymised IDs ever reach MLflow.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "e2e-mammo"
DEFAULT_ARTIFACTS = "mlartifacts"
#: The tag that makes a run a child of another in MLflow's UI (what ``nested=True`` sets).
PARENT_TAG = "mlflow.parentRunId"
#: The groups whose parent runs the store record holds: each table's rows and the sweep's cells.
GROUPS = ("table1", "table2", "table3", "table4-sweep")
#: Where the workflow records its MLflow store, experiment and group parents.
STORE_RECORD = "results/mlflow/experiment.json"


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs go. ``uri`` may be any MLflow tracking URI (SQLite by default)."""

    enabled: bool = True
    uri: str = DEFAULT_URI
    experiment: str = DEFAULT_EXPERIMENT
    artifacts: str = DEFAULT_ARTIFACTS
    parent_run_id: str | None = None  # runs started with this config are its children

    @property
    def is_server(self) -> bool:
        """Whether runs go to an ``mlflow server`` (which then stores the artifacts)."""
        return self.uri.startswith(("http://", "https://"))

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> TrackingConfig:
        """Build from the ``tracking`` block of params.yaml (missing keys take the defaults)."""
        params = dict(params or {})
        return cls(
            enabled=bool(params.get("enabled", True)),
            uri=str(params.get("uri", DEFAULT_URI)),
            experiment=str(params.get("experiment", DEFAULT_EXPERIMENT)),
            artifacts=str(params.get("artifacts", DEFAULT_ARTIFACTS)),
        )


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def init_store(config: TrackingConfig, retries: int = 5) -> str | None:
    """Create the store's schema and the experiment if missing; return the experiment id.

    Idempotent; run once before parallel jobs start. Returns ``None`` when tracking is off.
    """
    if not config.enabled:
        return None
    last: Exception | None = None
    for attempt in range(retries):
        try:
            client = _client(config.uri)
            found = client.get_experiment_by_name(config.experiment)
            if found is not None:
                return found.experiment_id
            if config.is_server:  # the server's --artifacts-destination keeps them
                return client.create_experiment(config.experiment)
            location = Path(config.artifacts).resolve().as_uri()
            return client.create_experiment(config.experiment, artifact_location=location)
        except Exception as exc:  # noqa: BLE001 - a concurrent creator may win the race
            last = exc
            time.sleep(0.5 * (attempt + 1))
    raise RuntimeError(f"cannot initialise MLflow store {config.uri}: {last}") from last


def git_commit(cwd: str | Path = ".") -> str:
    """The checkout's commit (``+dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


@dataclass
class Run:
    """One MLflow run (or its in-memory stand-in when tracking is off)."""

    config: TrackingConfig
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None  # set before entering: continue that run
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int | None]] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)

    def __enter__(self) -> Run:
        if self.config.parent_run_id:
            self.tags.setdefault(PARENT_TAG, self.config.parent_run_id)
        if self.config.enabled:
            import mlflow

            mlflow.set_tracking_uri(self.config.uri)
            experiment_id = init_store(self.config)
            if self.run_id:
                active = mlflow.start_run(run_id=self.run_id)
                mlflow.set_tags(self.tags)
            else:
                active = mlflow.start_run(
                    experiment_id=experiment_id, run_name=self.name, tags=self.tags
                )
            self.run_id = active.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.config.enabled:
            import mlflow

            mlflow.end_run(status=end_status(exc_type))

    def logged_steps(self, key: str) -> set[int]:
        """The steps at which metric ``key`` was logged in this run (so far)."""
        if not self.config.enabled:
            return {step for k, _, step in self.metrics if k == key and step is not None}
        history = _client(self.config.uri).get_metric_history(self.run_id, key)
        return {m.step for m in history}

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (flattened ``a.b`` keys; values as text, at most 6000 chars)."""
        flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
        self.params.update(flat)
        if self.config.enabled:
            import mlflow

            mlflow.log_params(flat)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log numeric metrics, per epoch with ``step=epoch`` or once as final numbers."""
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        self.metrics.extend((k, v, step) for k, v in clean.items())
        if self.config.enabled:
            import mlflow

            mlflow.log_metrics(clean, step=step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Add tags to the run (provenance known only at its end, e.g. its model's hash)."""
        clean = {k: str(v) for k, v in tags.items()}
        self.tags.update(clean)
        if self.config.enabled:
            import mlflow

            mlflow.set_tags(clean)

    def log_artifact(self, path: str | Path) -> None:
        """Attach a file (learning curves, tables) to the run."""
        self.artifacts.append(str(path))
        if self.config.enabled:
            import mlflow

            mlflow.log_artifact(str(path))


def end_status(exc_type: type[BaseException] | None) -> str:
    """MLflow's end status for a run left by ``exc_type``: FINISHED, KILLED (interrupted:
    ``KeyboardInterrupt``/``SystemExit``, e.g. SIGTERM from Snakemake) or FAILED."""
    if exc_type is None:
        return "FINISHED"
    if issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
        return "KILLED"
    return "FAILED"


def run_status(config: TrackingConfig, run_id: str) -> str | None:
    """The status of run ``run_id`` (``RUNNING``, ``FINISHED``, ...), ``None`` if unknown."""
    if not config.enabled:
        return None
    try:
        return _client(config.uri).get_run(run_id).info.status
    except Exception:  # noqa: BLE001 - a run deleted from the store is simply unknown
        return None


def mark_killed(config: TrackingConfig, run_id: str) -> bool:
    """End a run left RUNNING by a killed process as KILLED; True when it was RUNNING (never
    with tracking off)."""
    if run_status(config, run_id) != "RUNNING":
        return False
    _client(config.uri).set_terminated(run_id, status="KILLED")
    return True


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def create_parent_run(
    config: TrackingConfig, name: str, tags: Mapping[str, Any] | None = None
) -> str | None:
    """Create a finished run that groups others (a sweep): jobs in other processes name it in
    their :data:`PARENT_TAG`, and MLflow's UI shows them nested under it. Returns its id
    (``None`` with tracking off)."""
    if not config.enabled:
        return None
    experiment_id = init_store(config)
    client = _client(config.uri)
    run = client.create_run(
        experiment_id, run_name=name, tags={k: str(v) for k, v in (tags or {}).items()}
    )
    client.set_terminated(run.info.run_id, status="FINISHED")
    return run.info.run_id


def create_groups(
    config: TrackingConfig, groups: Iterable[str], tags: Mapping[str, Any] | None = None
) -> dict[str, str | None]:
    """One parent run per group (:func:`create_parent_run`); ``{group: run id}``."""
    return {g: create_parent_run(config, g, {**(tags or {}), "group": g}) for g in groups}


def _record_is_current(record: Mapping[str, Any], config: TrackingConfig) -> bool:
    """Whether a store record describes ``config``'s store, and that store still exists."""
    if (record.get("uri"), record.get("experiment")) != (config.uri, config.experiment):
        return False
    if config.enabled and config.uri.startswith("sqlite:///"):
        return Path(config.uri.removeprefix("sqlite:///")).is_file()
    return True


def ensure_store_record(
    config: TrackingConfig, store_record: str | Path = STORE_RECORD, groups: Iterable[str] = GROUPS
) -> dict[str, Any]:
    """Create the store, the experiment and one parent run per group, and record their ids in
    ``store_record``, unless it already describes this store; return the record. Run once
    before any job (the workflow's ``onstart``)."""
    path = Path(store_record)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    if record and _record_is_current(record, config):
        return record
    record = {
        "uri": config.uri,
        "experiment": config.experiment,
        "experiment_id": init_store(config),
        "parents": create_groups(config, groups, {"stage": "group", "git_commit": git_commit()}),
    }
    from e2e_mammo.io import atomic_write_json

    atomic_write_json(record, path)
    return record


def job_tracking(
    params: Mapping[str, Any] | None,
    store_record: str | Path = STORE_RECORD,
    group: str | None = None,
) -> TrackingConfig:
    """The tracking config of a pipeline job: params.yaml's ``tracking`` block, its runs the
    children of ``group``'s parent run as recorded in ``store_record`` by
    :func:`ensure_store_record`."""
    config = TrackingConfig.from_params(params)
    if group is None:
        return config
    parents = json.loads(Path(store_record).read_text()).get("parents", {})
    if group not in parents:
        raise KeyError(
            f"{store_record}: no parent run for group {group!r} (have {sorted(parents)})"
        )
    return replace(config, parent_run_id=parents[group])


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    """The MD5 of a file's bytes: the content hash DVC keeps it under in its cache."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_tags(model: str | Path) -> dict[str, str]:
    """Where a run's model lives in DVC: its path, the DVC-tracked folder (``results/<stage>``)
    and its content hash (``dvc pull`` restores exactly that file)."""
    resolved = Path(model).resolve()
    try:
        path = resolved.relative_to(Path.cwd().resolve())
        out = "/".join(path.parts[:2])
    except ValueError:  # outside the project: not in its DVC outputs
        path, out = resolved, ""
    return {"model_path": path.as_posix(), "dvc_out": out, "model_md5": file_md5(model)}


def start_run(
    config: TrackingConfig,
    name: str,
    tags: Mapping[str, str] | None = None,
    resume_run_id: str | None = None,
) -> Run:
    """A run context: ``with start_run(cfg, "table1/resnet50-N-S10", tags) as run: ...``.

    ``resume_run_id`` continues that run (a resumed job keeps its one run) instead of
    starting a new one.
    """
    return Run(
        config=config,
        name=name,
        tags={k: str(v) for k, v in (tags or {}).items()},
        run_id=resume_run_id,
    )
