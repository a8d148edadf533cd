"""MLflow tracking for every training job: one run per job, identical metric keys across rows.

* Store: a local SQLite database (``sqlite:///mlflow.db`` at the project root by default) with
  artifacts under ``mlartifacts/``; both configurable (``tracking`` in params.yaml). Relative
  paths resolve against the project root (:func:`project_root`: ``DVC_ROOT`` under
  ``dvc exp run --temp/--queue``, so their runs land in the project's store), and
  ``MLFLOW_TRACKING_URI``, when set, wins over params.yaml (:func:`resolve_store`).
* Every run carries the context tags (:func:`context_tags`): the data (``e2e.data``: synthetic
  or real), the scale (``e2e.scale``, ``e2e.numbers``), the git commit and, under ``dvc exp``,
  the experiment's name. Each data-and-scale context has its own group parents, so synthetic
  and real runs never share a parent.
* A new run supersedes the earlier runs of the same name under the same parent and in the same
  context: they are tagged ``e2e.superseded_by`` and moved under the context's ``superseded``
  parent, so each table's parent shows one current run per row (nothing is deleted).
* Calls to the store are retried (:func:`retrying`) while it is briefly unavailable or locked
  (SQLite under parallel jobs, a restarting server).
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

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from e2e_mammo.provenance import file_md5, git_commit

log = logging.getLogger(__name__)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "e2e-mammo"
DEFAULT_ARTIFACTS = "mlartifacts"
#: The tag that makes a run a child of another in MLflow's UI (what ``nested=True`` sets).
PARENT_TAG = "mlflow.parentRunId"
#: Where superseded runs go (:func:`supersede_earlier_runs`): one such parent per context.
SUPERSEDED = "superseded"
#: The groups whose parent runs the store record holds: each table's rows, the sweep's cells and
#: the runs that later runs superseded.
GROUPS = ("table1", "table2", "table3", "table4-sweep", SUPERSEDED)
#: Set by ``dvc exp run``: the experiment's name, its baseline commit, and (``--temp``/``--queue``,
#: which run in a copy under ``.dvc/tmp``) the project the experiment belongs to.
DVC_EXP_NAME, DVC_EXP_BASELINE, DVC_ROOT = "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_ROOT"
#: Waits (seconds) between attempts of a store call that failed transiently (:func:`retrying`).
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
#: The URIs this process gave ``mlflow.set_tracking_uri``, which copies them into
#: ``MLFLOW_TRACKING_URI``: only a value the user set there overrides params.yaml.
_SET_HERE: set[str] = set()
_TRANSIENT_WORDS = ("locked", "busy", "unavailable", "timed out", "timeout", "connection", "503")
#: A row another job inserted between MLflow's check and its insert (parallel jobs logging the
#: same dataset): the retry finds the row and links it.
_RACE_WORDS = ("unique constraint failed",)
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
    #: tags every run gets (:func:`context_tags`: data, scale, commit, DVC experiment)
    tags: Mapping[str, str] = field(default_factory=dict)
    #: where runs superseded by a new one move (the context's ``superseded`` parent)
    superseded_parent_id: str | None = None

    @property
    def context(self) -> str:
        """The data-and-scale context whose group parents this config's runs belong to."""
        return context_key(self.tags)

    @property
    def is_server(self) -> bool:
        """Whether runs go to an ``mlflow server`` (which then stores the artifacts)."""
        return self.uri.startswith(("http://", "https://"))

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any] | None,
        root: str | Path | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> TrackingConfig:
        """Build from the ``tracking`` block of params.yaml (missing keys take the defaults),
        its paths resolved against ``root`` (default :func:`project_root`) by
        :func:`resolve_store`."""
        params = dict(params or {})
        uri, artifacts = resolve_store(
            str(params.get("uri", DEFAULT_URI)),
            str(params.get("artifacts", DEFAULT_ARTIFACTS)),
            Path(root) if root is not None else project_root(),
        )
        return cls(
            enabled=bool(params.get("enabled", True)),
            uri=uri,
            experiment=str(params.get("experiment", DEFAULT_EXPERIMENT)),
            artifacts=artifacts,
            tags=dict(tags or {}),
        )


def project_root() -> Path:
    """The project whose store runs belong to: ``DVC_ROOT`` when DVC sets it (``dvc exp run
    --temp/--queue`` runs in a copy of the project but points it at the project itself),
    else the working directory (Snakemake runs jobs in the project's root)."""
    return Path(os.environ.get(DVC_ROOT) or Path.cwd()).resolve()


def resolve_store(uri: str, artifacts: str, root: Path) -> tuple[str, str]:
    """``(tracking URI, artifact location)`` of params.yaml's ``uri`` and ``artifacts``:
    ``MLFLOW_TRACKING_URI``, when set, replaces ``uri``; a relative SQLite path or store folder
    and a relative artifacts folder resolve against ``root``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env and env not in _SET_HERE:
        uri = env
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        uri = "sqlite:///" + str(path if path.is_absolute() else root / path)
    elif "://" not in uri:  # a folder: MLflow's file store
        uri = str(root / uri)
    if "://" not in artifacts:
        artifacts = str(root / artifacts)
    return uri, artifacts


def _transient(exc: BaseException) -> bool:
    """Whether a store call's error may pass if retried: a locked SQLite database, a server
    that is restarting or briefly unreachable, a row a parallel job inserted first."""
    if isinstance(exc, ConnectionError | TimeoutError | sqlite3.OperationalError):
        return True
    if type(exc).__name__ == "OperationalError":  # SQLAlchemy's wrapper of sqlite3's
        return True
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return False  # a file of ours, not the store
    text = str(exc).lower()
    if any(words in text for words in _RACE_WORDS):
        return True
    return isinstance(exc, OSError) or any(word in text for word in _TRANSIENT_WORDS)


def retrying(call, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, retried after :data:`RETRY_DELAYS` while it fails
    transiently (:func:`_transient`); the last error is raised."""
    for delay in (*RETRY_DELAYS, None):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if delay is None or not _transient(exc):
                raise
            log.warning("MLflow store unavailable (%s); retrying in %.1f s", exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def context_tags(config: Mapping[str, Any], cwd: str | Path = ".") -> dict[str, str]:
    """The tags every run of a workflow config gets: ``e2e.data`` (``synthetic`` when either
    dataset is the built-in synthetic one, else ``real``), ``e2e.scale`` (demo or paper),
    ``e2e.numbers`` (what the tables call their numbers), the git commit, and under
    ``dvc exp run`` the experiment's name and baseline commit."""
    from e2e_mammo.config import data_kind, numbers_kind

    commit = git_commit(cwd)
    tags = {
        "e2e.data": data_kind(config, "cbis_ddsm", "inbreast"),
        "e2e.scale": str(config["scale"]["name"]),
        "e2e.numbers": numbers_kind(config),
        "git_commit": commit,
        "mlflow.source.git.commit": commit.removesuffix("+dirty"),
    }
    if os.environ.get(DVC_EXP_NAME):
        tags["e2e.dvc_exp"] = os.environ[DVC_EXP_NAME]
    if os.environ.get(DVC_EXP_BASELINE):
        tags["e2e.dvc_exp_baseline"] = os.environ[DVC_EXP_BASELINE]
    return tags


def context_key(tags: Mapping[str, str]) -> str:
    """``<data>-<scale>`` (e.g. ``synthetic-demo``): runs of one context share group parents;
    runs without context tags (unit tests) are ``untagged``."""
    if "e2e.data" not in tags:
        return "untagged"
    return f"{tags['e2e.data']}-{tags['e2e.scale']}"


def store_client(uri: str):
    """An MLflow client of the store at ``uri``."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _get_or_create_experiment(config: TrackingConfig) -> str:
    client = store_client(config.uri)
    found = client.get_experiment_by_name(config.experiment)
    if found is not None:
        return found.experiment_id
    try:
        if config.is_server:  # the server's --artifacts-destination keeps them
            return client.create_experiment(config.experiment)
        location = Path(config.artifacts).resolve().as_uri()
        return client.create_experiment(config.experiment, artifact_location=location)
    except Exception:  # a concurrent creator won the race: use theirs
        found = client.get_experiment_by_name(config.experiment)
        if found is None:
            raise
        return found.experiment_id


def init_store(config: TrackingConfig) -> str | None:
    """Create the store's schema and the experiment if missing; return the experiment id.

    Idempotent; run once before parallel jobs start. Returns ``None`` when tracking is off.
    """
    if not config.enabled:
        return None
    try:
        return retrying(_get_or_create_experiment, config)
    except Exception as exc:
        raise RuntimeError(f"cannot initialise MLflow store {config.uri}: {exc}") from exc


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
    experiment_id: str | None = None
    #: what :mod:`e2e_mammo.logged_models` logged: model references, registrations, datasets
    models: list[dict[str, str]] = field(default_factory=list)
    registered: list[tuple[str, str]] = field(default_factory=list)
    datasets: list[tuple[str, str]] = field(default_factory=list)

    def __enter__(self) -> Run:
        self.tags = {**self.config.tags, **self.tags}
        if self.config.parent_run_id:
            self.tags.setdefault(PARENT_TAG, self.config.parent_run_id)
        if self.config.enabled:
            import mlflow

            mlflow.set_tracking_uri(self.config.uri)
            _SET_HERE.add(self.config.uri)
            experiment_id = self.experiment_id = init_store(self.config)
            if self.run_id:
                active = retrying(mlflow.start_run, run_id=self.run_id)
                retrying(mlflow.set_tags, self.tags)
            else:
                active = retrying(
                    mlflow.start_run,
                    experiment_id=experiment_id,
                    run_name=self.name,
                    tags=self.tags,
                )
                parent = self.tags.get(PARENT_TAG)
                supersede_earlier_runs(
                    replace(self.config, parent_run_id=parent),
                    experiment_id,
                    active.info.run_id,
                    self.name,
                )
            self.run_id = active.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.config.enabled:
            import mlflow

            retrying(mlflow.end_run, status=end_status(exc_type))

    def logged_steps(self, key: str) -> set[int]:
        """The steps at which metric ``key`` was logged in this run (so far)."""
        if not self.config.enabled:
            return {step for k, _, step in self.metrics if k == key and step is not None}
        history = retrying(store_client(self.config.uri).get_metric_history, self.run_id, key)
        return {m.step for m in history}

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (flattened ``a.b`` keys; values as text, at most 6000 chars)."""
        flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
        self.params.update(flat)
        if self.config.enabled:
            import mlflow

            retrying(mlflow.log_params, flat)

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, model_id: str | None = None
    ) -> None:
        """Log numeric metrics, per epoch with ``step=epoch`` or once as final numbers
        (linked to logged model ``model_id`` when given)."""
        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        self.metrics.extend((k, v, step) for k, v in clean.items())
        if self.config.enabled:
            import mlflow

            retrying(mlflow.log_metrics, clean, step=step, model_id=model_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Add tags to the run (provenance known only at its end, e.g. its model's hash)."""
        clean = {k: str(v) for k, v in tags.items()}
        self.tags.update(clean)
        if self.config.enabled:
            import mlflow

            retrying(mlflow.set_tags, clean)

    def log_artifact(self, path: str | Path) -> None:
        """Attach a file (learning curves, tables) to the run."""
        self.artifacts.append(str(path))
        if self.config.enabled:
            import mlflow

            retrying(mlflow.log_artifact, str(path))


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
        return retrying(store_client(config.uri).get_run, run_id).info.status
    except Exception:  # noqa: BLE001 - a run deleted from the store is simply unknown
        return None


def mark_killed(config: TrackingConfig, run_id: str) -> bool:
    """End a run left RUNNING by a killed process as KILLED; True when it was RUNNING (never
    with tracking off)."""
    if run_status(config, run_id) != "RUNNING":
        return False
    retrying(store_client(config.uri).set_terminated, run_id, status="KILLED")
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


def _earlier_runs(config: TrackingConfig, experiment_id: str, run_id: str, name: str) -> list:
    """The current runs named ``name`` beside ``run_id``: same parent (or none), same context."""
    parent = config.parent_run_id
    query = f"attributes.run_name = '{name}'"
    if "e2e.data" in config.tags:
        query += f" and tags.`e2e.data` = '{config.tags['e2e.data']}'"
        query += f" and tags.`e2e.scale` = '{config.tags['e2e.scale']}'"
    runs = retrying(store_client(config.uri).search_runs, [experiment_id], query, max_results=1000)
    return [
        r
        for r in runs
        if r.info.run_id != run_id
        and r.data.tags.get(PARENT_TAG) == parent
        and "e2e.superseded_by" not in r.data.tags
    ]


def supersede_earlier_runs(
    config: TrackingConfig, experiment_id: str, run_id: str, name: str
) -> list[str]:
    """Mark the earlier current runs of ``name`` (same parent, same context) as superseded by
    ``run_id``: tagged ``e2e.superseded_by`` and ``e2e.current=false`` and moved under the
    context's ``superseded`` parent when there is one (their old parent kept in
    ``e2e.superseded_parent``). Returns their ids; the new run is tagged ``e2e.current=true``
    and ``e2e.supersedes``."""
    client = store_client(config.uri)
    earlier = _earlier_runs(config, experiment_id, run_id, name)
    for run in earlier:
        old = run.info.run_id
        retrying(client.set_tag, old, "e2e.superseded_by", run_id)
        retrying(client.set_tag, old, "e2e.current", "false")
        if config.superseded_parent_id:
            retrying(
                client.set_tag, old, "e2e.superseded_parent", run.data.tags.get(PARENT_TAG, "")
            )
            retrying(client.set_tag, old, PARENT_TAG, config.superseded_parent_id)
    retrying(client.set_tag, run_id, "e2e.current", "true")
    if earlier:
        ids = ",".join(r.info.run_id for r in earlier)
        retrying(client.set_tag, run_id, "e2e.supersedes", ids[:5000])
        log.info("MLflow run %s supersedes %s", run_id, ids)
    return [r.info.run_id for r in earlier]


def create_parent_run(
    config: TrackingConfig, name: str, tags: Mapping[str, Any] | None = None
) -> str | None:
    """Create a finished run that groups others (a sweep): jobs in other processes name it in
    their :data:`PARENT_TAG`, and MLflow's UI shows them nested under it. Returns its id
    (``None`` with tracking off)."""
    if not config.enabled:
        return None
    experiment_id = init_store(config)
    client = store_client(config.uri)
    tags = {**config.tags, **{k: str(v) for k, v in (tags or {}).items()}}
    run = retrying(client.create_run, experiment_id, run_name=name, tags=tags)
    retrying(client.set_terminated, run.info.run_id, status="FINISHED")
    return run.info.run_id


def group_run_name(group: str, config: TrackingConfig) -> str:
    """A group parent's run name: the group and its context, e.g. ``table1 (synthetic, demo)``."""
    if "e2e.data" not in config.tags:
        return group
    return f"{group} ({config.tags['e2e.data']}, {config.tags['e2e.scale']})"


def create_groups(
    config: TrackingConfig, groups: Iterable[str], tags: Mapping[str, Any] | None = None
) -> dict[str, str | None]:
    """One parent run per group (:func:`create_parent_run`), in ``config``'s context;
    ``{group: run id}``."""
    return {
        g: create_parent_run(config, group_run_name(g, config), {**(tags or {}), "group": g})
        for g in groups
    }


def _record_is_current(record: Mapping[str, Any], config: TrackingConfig) -> bool:
    """Whether a store record describes ``config``'s store, and that store still exists."""
    if (record.get("uri"), record.get("experiment")) != (config.uri, config.experiment):
        return False
    if config.enabled and config.uri.startswith("sqlite:///"):
        return Path(config.uri.removeprefix("sqlite:///")).is_file()
    return True


def existing_group_parents(config: TrackingConfig, experiment_id: str | None) -> dict[str, str]:
    """``{group: run id}`` of the group parents the store already holds for ``config``'s
    context (the oldest of each group), so that a workspace without a store record (a fresh
    checkout, ``dvc exp run --temp``) files its runs under the project's existing parents."""
    if not config.enabled or experiment_id is None:
        return {}
    query = "tags.stage = 'group'"
    for key in ("e2e.data", "e2e.scale"):
        if key in config.tags:
            query += f" and tags.`{key}` = '{config.tags[key]}'"
    runs = retrying(
        store_client(config.uri).search_runs,
        [experiment_id],
        query,
        max_results=1000,
        order_by=["attributes.start_time DESC"],
    )
    found: dict[str, str] = {}
    for run in runs:  # newest first: the oldest of a group is written last
        if ("e2e.data" in run.data.tags) == ("e2e.data" in config.tags):
            found[run.data.tags.get("group", "")] = run.info.run_id
    found.pop("", None)
    return found


def ensure_store_record(
    config: TrackingConfig, store_record: str | Path = STORE_RECORD, groups: Iterable[str] = GROUPS
) -> dict[str, Any]:
    """Create the store, the experiment and, for ``config``'s context (:func:`context_key`),
    one parent run per group, and record their ids in ``store_record`` under
    ``parents[<context>]``, unless it already holds them for this store; return the record.
    Run once before any job (the workflow's ``onstart``)."""
    path = Path(store_record)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    groups = tuple(groups)
    if not (record and _record_is_current(record, config)):
        record = {
            "uri": config.uri,
            "experiment": config.experiment,
            "experiment_id": init_store(config),
            "parents": {},
        }
    known = record["parents"].get(config.context, {})
    if set(groups) <= set(known):
        return record
    known = {**existing_group_parents(config, record["experiment_id"]), **known}
    missing = [g for g in groups if g not in known]
    made = create_groups(config, missing, {"stage": "group"}) if missing else {}
    record["parents"][config.context] = {**known, **made}
    from e2e_mammo.io import atomic_write_json

    atomic_write_json(record, path)
    return record


def record_parents(record: Mapping[str, Any], context: str) -> dict[str, str]:
    """``{group: parent run id}`` of ``context`` in a store record."""
    return dict(record.get("parents", {}).get(context, {}))


def workflow_tracking(config: Mapping[str, Any]) -> TrackingConfig:
    """The tracking config of the workflow config ``config``: its ``tracking`` block with the
    context tags (:func:`context_tags`) of its data and scale."""
    return TrackingConfig.from_params(config["tracking"], tags=context_tags(config))


def job_tracking(
    config: Mapping[str, Any],
    store_record: str | Path = STORE_RECORD,
    group: str | None = None,
) -> TrackingConfig:
    """The tracking config of a pipeline job (:func:`workflow_tracking`), its runs the
    children of ``group``'s parent run in its context as recorded in ``store_record`` by
    :func:`ensure_store_record`, superseded runs moving under the context's ``superseded``
    parent."""
    tracking = workflow_tracking(config)
    if not tracking.enabled:
        return tracking
    try:
        parents = record_parents(json.loads(Path(store_record).read_text()), tracking.context)
    except (OSError, ValueError):
        parents = {}
    tracking = replace(tracking, superseded_parent_id=parents.get(SUPERSEDED))
    if group is None:
        return tracking
    if group not in parents:
        raise KeyError(
            f"{store_record}: no parent run for group {group!r} in context "
            f"{tracking.context!r} (have {sorted(parents)}); the workflow's onstart writes it"
        )
    return replace(tracking, parent_run_id=parents[group])


def log_group_artifacts(tracking: TrackingConfig, group: str, paths: Iterable[str | Path]) -> None:
    """Attach files (a table's CSV and Markdown, its figure) to ``group``'s parent run, so
    the parent holds its table; a rerun replaces them. ``tracking`` comes from
    :func:`job_tracking` with ``group``."""
    if not tracking.enabled or not tracking.parent_run_id:
        return
    client = store_client(tracking.uri)
    for path in paths:
        retrying(client.log_artifact, tracking.parent_run_id, str(path))


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
