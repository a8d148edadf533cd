"""One tracked training job, the same for every training stage.

:func:`run_tracked_job` wraps a stage's training function with everything a job owes its
users, so no stage re-implements it:

* restart rules (:func:`e2e_mammo.training.checkpoint.prepare`): an interrupted job resumes from
  its checkpoint; a job that runs again after it finished, or on other inputs or settings (the
  job's identity: a content hash of its input files and settings), trains afresh;
* one MLflow run per job (a child of its table's run when the tracking config names one; its
  model's DVC path and MD5 as tags and as an external logged model with the final metrics,
  its split tables as dataset inputs): a restarted job continues the run of its interrupted
  attempt (the run id and the job's identity are kept beside the checkpoint), each epoch is
  logged once, a run left RUNNING by an attempt of other inputs or settings is ended as
  KILLED, and an interrupted job (Ctrl-C, SIGTERM) ends its run as KILLED;
* a tracking error never costs the trained model: an epoch the store could not take is logged
  again at the end, and a job that fails there keeps its checkpoint, so its rerun resumes
  without retraining;
* per-epoch metrics (``step=epoch``) and a progress line per epoch in the job's log;
* ``history.csv``, ``learning_curves.png`` and ``result.json``, written atomically, and the
  checkpoint removed once they are (the declared outputs hold what the job made).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import signal
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from e2e_mammo.io import atomic_write_csv, atomic_write_json
from e2e_mammo.logged_models import log_dataset_inputs, log_model_reference
from e2e_mammo.plan.schedules import total_epochs
from e2e_mammo.tracking import (
    Run,
    TrackingConfig,
    mark_killed,
    model_tags,
    run_status,
    start_run,
)
from e2e_mammo.training import checkpoint as ckpt
from e2e_mammo.training.curves import plot_learning_curves
from e2e_mammo.training.fit import FitConfig, FitResult, FitRun, fit

log = logging.getLogger(__name__)
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_auc", "lr")
RUN_ID_FILE = "mlflow_run.json"
MODEL_FILE = "model.pt"
#: MLflow statuses of an attempt that was stopped, not finished or failed: its run is continued.
INTERRUPTED = ("RUNNING", "KILLED")


@dataclass(frozen=True)
class TrackedJob:
    """What identifies and describes one training job."""

    name: str  # the MLflow run name, e.g. "table1/resnet50-N-S1"
    out_dir: Path
    inputs: tuple[Path, ...]  # content-hashed into the identity
    settings: Mapping[str, Any]  # everything else that changes the result
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)  # fixed fields of result.json
    #: ``(context, csv)``: the split tables the job trains and validates on (MLflow datasets)
    datasets: tuple[tuple[str, Path], ...] = ()

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"


@dataclass
class JobContext:
    """What a stage's training function gets from the runner."""

    checkpoint_dir: Path
    identity: str
    resumed: bool
    run: Run
    total_epochs: int = 0
    logged: set[int] = field(default_factory=set)  # epochs an interrupted attempt logged
    name: str = ""  # the job's name (its MLflow run name)

    def log_epoch_metrics(self, record: dict[str, Any], strict: bool = False) -> None:
        """Log one epoch's metrics to MLflow (``step=epoch``), unless that epoch already is.

        During training a store that stays unavailable past the retries costs a warning, not
        the training (the epoch is logged again at the end, ``strict``, when it must succeed;
        the checkpoint then lets a rerun resume without retraining)."""
        if record["epoch"] in self.logged:
            return
        metrics = {k: record[k] for k in EPOCH_METRICS if _finite(record.get(k))}
        try:
            self.run.log_metrics(metrics, record["epoch"])
        except Exception as exc:
            if strict:
                raise
            log.warning("epoch %s not logged to MLflow yet: %s", record["epoch"], exc)
            return
        self.logged.add(record["epoch"])

    def fit(
        self, model, train, val, cfg: FitConfig, device, checkpoint_interval_s: float = 0.0
    ) -> FitResult:
        """:func:`~e2e_mammo.training.fit.fit` in this job: its checkpoint folder and identity,
        each epoch logged to MLflow and the job's log."""
        self.total_epochs = total_epochs(cfg.schedule)
        log.info(
            "%d epochs on %s, %d training samples", self.total_epochs, device, len(train.dataset)
        )
        return fit(
            model,
            train,
            val,
            cfg,
            FitRun(
                checkpoint_dir=self.checkpoint_dir,
                identity=self.identity,
                device=device,
                on_epoch=self.on_epoch,
                checkpoint_interval_s=checkpoint_interval_s,
            ),
        )

    def on_epoch(self, record: dict[str, Any]) -> None:
        """Log one epoch's record to MLflow and a progress line to the job's log."""
        self.log_epoch_metrics(record)
        log.info(
            "epoch %d/%s (%s, lr %g): train loss %.4f acc %.4f | val loss %.4f acc %.4f auc %.4f",
            record["epoch"],
            self.total_epochs or "?",
            record["stage"],
            record["lr"],
            record["train_loss"],
            record["train_accuracy"],
            record["val_loss"],
            record["val_accuracy"],
            record.get("val_auc", float("nan")),
        )


def _finite(value: Any) -> bool:
    """A number MLflow can plot (a run without validation has ``nan`` there: left out)."""
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass
class JobOutcome:
    """What a stage's training function returns."""

    history: list[dict[str, Any]]
    metrics: dict[str, float]  # final numbers, logged once
    result: dict[str, Any]  # further fields of result.json


@contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM (how schedulers and Snakemake stop a job) into ``KeyboardInterrupt``."""

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _previous_run(folder: Path) -> dict[str, str]:
    path = folder / RUN_ID_FILE
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def _choose_run(
    job: TrackedJob, tracking: TrackingConfig, identity: str
) -> tuple[bool, str | None]:
    """(resumed, run id to continue) after applying the restart rules.

    The run of an interrupted attempt of the same job (same identity; RUNNING after a hard kill,
    or KILLED) is continued, whether or not it left a checkpoint; a FAILED attempt's run (an
    error, perhaps since fixed) is left as it is and a new run starts; any other run left
    RUNNING is ended as KILLED.
    """
    previous = _previous_run(job.checkpoint_dir)
    resumed = ckpt.prepare(job.checkpoint_dir, identity) == "resume"
    run_id = previous.get("run_id")
    if not run_id:
        return resumed, None
    if previous.get("identity") == identity and run_status(tracking, run_id) in INTERRUPTED:
        return resumed, run_id
    if mark_killed(tracking, run_id):
        log.info("MLflow run %s of an interrupted attempt ended as KILLED", run_id)
    return resumed, None


def _log_missing_epochs(ctx: JobContext, history: Iterable[dict[str, Any]]) -> None:
    """Log the epochs restored from a checkpoint that no attempt logged (killed in between)."""
    for record in history:
        ctx.log_epoch_metrics(record, strict=True)


def _write_outputs(job: TrackedJob, ctx: JobContext, outcome: JobOutcome) -> dict[str, Any]:
    history = pd.DataFrame(outcome.history)
    atomic_write_csv(history, job.out_dir / "history.csv")
    plot_learning_curves(history, job.out_dir / "learning_curves.png", title=job.name)
    model = job.out_dir / MODEL_FILE
    if model.is_file():  # the weights stay in DVC; the run and its logged model say where
        log_model_reference(ctx.run, model, outcome.metrics)
        ctx.run.set_tags(model_tags(model))
    else:
        ctx.run.log_metrics(outcome.metrics)
    for path in [job.out_dir / "history.csv", job.out_dir / "learning_curves.png"]:
        ctx.run.log_artifact(path)
    return {**job.result, **outcome.result, **outcome.metrics, "mlflow_run_id": ctx.run.run_id}


def run_tracked_job(
    job: TrackedJob,
    tracking: TrackingConfig,
    train: Callable[[JobContext], JobOutcome],
) -> dict[str, Any]:
    """Run ``train`` as one tracked job (see the module doc); return what ``result.json`` holds."""
    job.out_dir.mkdir(parents=True, exist_ok=True)
    identity = ckpt.identity_hash(job.inputs, job.settings)
    resumed, run_id = _choose_run(job, tracking, identity)
    tags = {**job.tags, "identity": identity[:16]}
    with _sigterm_as_interrupt(), start_run(tracking, job.name, tags, run_id) as run:
        atomic_write_json(
            {"run_id": run.run_id, "identity": identity}, job.checkpoint_dir / RUN_ID_FILE
        )
        if run_id is None:
            run.log_params(job.params)
            log_dataset_inputs(run, job.datasets)
        ctx = JobContext(job.checkpoint_dir, identity, resumed, run, name=job.name)
        if run_id is not None:
            ctx.logged = run.logged_steps("train_loss")
        log.info("%s: %s", job.name, "resuming the interrupted run" if resumed else "training")
        outcome = train(ctx)
        _log_missing_epochs(ctx, outcome.history)
        result = _write_outputs(job, ctx, outcome)
    atomic_write_json(result, job.out_dir / "result.json")
    shutil.rmtree(job.checkpoint_dir, ignore_errors=True)
    return result
