"""The tracked-job runner: restart rules, one MLflow run per job, outputs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from helpers.toy import tiny_classifier, toy_loaders

from e2e_mammo.plan.schedules import Stage
from e2e_mammo.tracking import TrackingConfig, init_store
from e2e_mammo.training.fit import FitConfig, FitRun, fit
from e2e_mammo.training.job import JobContext, JobOutcome, TrackedJob, run_tracked_job

SCHEDULE = (Stage("all", 3, 1e-3, "all"),)


def make_job(tmp_path: Path, data: bytes = b"patches") -> TrackedJob:
    source = tmp_path / "train.npy"
    if not source.is_file() or source.read_bytes() != data:
        source.write_bytes(data)
    return TrackedJob(
        name="table1/toy",
        out_dir=tmp_path / "out",
        inputs=(source,),
        settings={"lr": 1e-3},
        tags={"table": "1", "row": "toy"},
        params={"lr": 1e-3},
    )


def trainer(
    calls: list, interrupt_after: int | None = None, interval: float = 0.0, sigterm: bool = False
):
    def train(ctx: JobContext) -> JobOutcome:
        calls.append(ctx.resumed)
        torch.manual_seed(0)
        model = tiny_classifier()
        train_loader, val_loader = toy_loaders(n_train=8, n_val=4, batch_size=4)

        def on_epoch(record):
            ctx.on_epoch(record)
            if interrupt_after is not None and record["epoch"] == interrupt_after:
                if sigterm:
                    os.kill(os.getpid(), signal.SIGTERM)
                raise KeyboardInterrupt("killed")

        result = fit(
            model,
            train_loader,
            val_loader,
            FitConfig(schedule=SCHEDULE),
            FitRun(
                checkpoint_dir=ctx.checkpoint_dir,
                identity=ctx.identity,
                device="cpu",
                on_epoch=on_epoch,
                checkpoint_interval_s=interval,
            ),
        )
        return JobOutcome(result.history, {"best_epoch": result.best_epoch}, {"status": "ok"})

    return train


def runs_of(store: TrackingConfig):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store.uri)
    experiment = client.get_experiment_by_name(store.experiment)
    return client, client.search_runs([experiment.experiment_id])


def test_finished_job_run_again_trains_afresh(tmp_path, store):
    calls: list = []
    job = make_job(tmp_path)
    run_tracked_job(job, store, trainer(calls))
    run_tracked_job(job, store, trainer(calls))
    assert calls == [False, False]
    assert not job.checkpoint_dir.exists()
    assert json.loads((job.out_dir / "result.json").read_text())["best_epoch"] >= 1


def test_interrupted_job_resumes_in_its_own_mlflow_run(tmp_path, store):
    calls: list = []
    job = make_job(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tracked_job(job, store, trainer(calls, interrupt_after=1))
    client, runs = runs_of(store)
    assert [r.info.status for r in runs] == ["KILLED"]
    run_tracked_job(job, store, trainer(calls))
    client, runs = runs_of(store)
    assert calls == [False, True]
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "val_loss")]
    assert sorted(steps) == [1, 2, 3]


def test_job_killed_before_its_first_checkpoint_keeps_one_run(tmp_path, store):
    calls: list = []
    job = make_job(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_tracked_job(job, store, trainer(calls, interrupt_after=2, interval=1e9))
    run_tracked_job(job, store, trainer(calls, interval=1e9))
    client, runs = runs_of(store)
    assert calls == [False, False]  # nothing to resume from: trained again
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "val_loss")]
    assert sorted(steps) == [1, 2, 3]  # epochs 1-2 retrained, logged once


def test_interrupted_job_on_changed_inputs_trains_afresh(tmp_path, store):
    calls: list = []
    with pytest.raises(KeyboardInterrupt):
        run_tracked_job(make_job(tmp_path), store, trainer(calls, interrupt_after=1))
    run_tracked_job(make_job(tmp_path, b"PATCHES"), store, trainer(calls))  # same size
    _, runs = runs_of(store)
    assert calls == [False, False]
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]


def test_run_left_running_by_a_hard_kill_is_ended_as_killed(tmp_path, store):
    from mlflow.tracking import MlflowClient

    job = make_job(tmp_path)
    client = MlflowClient(tracking_uri=store.uri)
    stale = client.create_run(init_store(store)).info.run_id  # a SIGKILLed attempt's run
    job.checkpoint_dir.mkdir(parents=True)
    marker = {"run_id": stale, "identity": "an attempt on other inputs"}
    (job.checkpoint_dir / "mlflow_run.json").write_text(json.dumps(marker))
    assert client.get_run(stale).info.status == "RUNNING"
    run_tracked_job(job, store, trainer([]))
    assert client.get_run(stale).info.status == "KILLED"


def test_sigterm_ends_the_run_killed_and_keeps_the_checkpoint(tmp_path, store):
    job = make_job(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="signal"):
        run_tracked_job(job, store, trainer([], interrupt_after=1, sigterm=True))
    _, runs = runs_of(store)
    assert [r.info.status for r in runs] == ["KILLED"]
    assert (job.checkpoint_dir / "checkpoint.pt").is_file()
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def model_trainer(calls: list):
    """:func:`trainer` that also leaves the job's ``model.pt`` (as the stages do)."""
    inner = trainer(calls)

    def train(ctx: JobContext) -> JobOutcome:
        outcome = inner(ctx)
        (ctx.checkpoint_dir.parent / "model.pt").write_bytes(b"weights")
        return outcome

    return train


def test_a_jobs_model_and_split_table_reach_mlflow_by_reference(tmp_path, store, monkeypatch):
    from dataclasses import replace

    monkeypatch.chdir(tmp_path)
    splits = tmp_path / "splits.csv"
    splits.write_text("patient_id,split\nP_1,train\n")
    job = replace(make_job(tmp_path), datasets=(("splits", splits),))
    run_tracked_job(job, store, model_trainer([]))
    client, (run,) = runs_of(store)
    (output,) = run.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert logged.tags["model_path"] == "out/model.pt" == run.data.tags["model_path"]
    assert {m.key for m in logged.metrics} == {"best_epoch"}
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == [f"{tmp_path.name}/splits"]


def test_a_store_down_during_training_costs_no_epoch(tmp_path, store, monkeypatch):
    from e2e_mammo import tracking

    real, failed = tracking.Run.log_metrics, []

    def down_at_epoch_one(self, metrics, step=None, model_id=None):
        if step == 1 and not failed:
            failed.append(step)
            raise ConnectionError("tracking server unreachable")
        return real(self, metrics, step, model_id)

    monkeypatch.setattr(tracking.Run, "log_metrics", down_at_epoch_one)
    calls: list = []
    run_tracked_job(make_job(tmp_path), store, trainer(calls))
    client, (run,) = runs_of(store)
    assert calls == [False] and failed == [1] and run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
    assert sorted(steps) == [1, 2, 3]  # epoch 1 logged at the end


def test_a_tracking_error_at_the_end_keeps_the_model_for_a_resuming_rerun(
    tmp_path, store, monkeypatch
):
    from e2e_mammo.training import job as job_module

    monkeypatch.chdir(tmp_path)
    real, failures = job_module.log_model_reference, []

    def fails_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise RuntimeError("store rejected the model")
        return real(*args, **kwargs)

    monkeypatch.setattr(job_module, "log_model_reference", fails_once)
    calls: list = []
    job = make_job(tmp_path)
    with pytest.raises(RuntimeError, match="rejected"):
        run_tracked_job(job, store, model_trainer(calls))
    assert job.checkpoint_dir.is_dir()  # the trained state stays
    result = run_tracked_job(job, store, model_trainer(calls))
    assert calls == [False, True]  # the rerun resumed: no epoch trained again
    assert result["status"] == "ok" and not job.checkpoint_dir.exists()
