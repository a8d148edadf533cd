"""Where a job runs: E2E_MAMMO_DEVICE, auto's order, one GPU per concurrent job."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from e2e_mammo.training import devices
from e2e_mammo.training.devices import DEVICE_ENV, LOCKS_ENV, claim_gpu, pick_device

CLAIM = (
    "import time; from e2e_mammo.training.devices import claim_gpu; "
    "print(claim_gpu({count}), flush=True); time.sleep({hold})"
)


@pytest.fixture()
def locks(tmp_path, monkeypatch):
    monkeypatch.setenv(LOCKS_ENV, str(tmp_path))
    for name in (DEVICE_ENV, devices.SCALE_ENV, devices.ALLOW_CPU_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(devices, "_HELD", {})
    return tmp_path


def _claim_elsewhere(count: int, hold: float = 0.0) -> subprocess.Popen:
    code = CLAIM.format(count=count, hold=hold)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_the_environment_variable_wins_over_the_jobs_device(locks, monkeypatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert pick_device("cuda") == torch.device("cpu")


def test_auto_is_the_cpu_without_cuda_or_mps(locks, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    assert pick_device() == torch.device("cpu")


def test_auto_takes_mps_without_cuda(locks, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_available", lambda: True)
    assert pick_device() == torch.device("mps")


def test_auto_claims_a_gpu_no_other_job_holds(locks, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert pick_device() == torch.device("cuda", 0)
    other = _claim_elsewhere(3)
    assert other.communicate(timeout=60)[0].strip() == "1"  # this process holds GPU 0


def test_concurrent_jobs_each_get_their_own_gpu(locks) -> None:
    jobs = [_claim_elsewhere(3, hold=3.0) for _ in range(3)]
    claimed = sorted(int(job.communicate(timeout=60)[0]) for job in jobs)
    assert claimed == [0, 1, 2]


def test_a_finished_jobs_gpu_is_free_again(locks) -> None:
    assert _claim_elsewhere(2).communicate(timeout=60)[0].strip() == "0"
    assert claim_gpu(2) == 0


def test_one_gpu_needs_no_lock(locks) -> None:
    assert claim_gpu(1) == 0 and not list(locks.iterdir())


def test_paper_scale_training_refuses_the_cpu_naming_the_switch(locks, monkeypatch) -> None:
    monkeypatch.setenv(devices.SCALE_ENV, "paper")
    monkeypatch.delenv(devices.ALLOW_CPU_ENV, raising=False)
    with pytest.raises(RuntimeError, match="E2E_MAMMO_ALLOW_CPU=1"):
        pick_device("cpu")


def test_paper_scale_on_the_cpu_can_be_forced(locks, monkeypatch) -> None:
    monkeypatch.setenv(devices.SCALE_ENV, "paper")
    monkeypatch.setenv(devices.ALLOW_CPU_ENV, "1")
    assert pick_device("cpu") == torch.device("cpu")


def test_demo_scale_trains_on_the_cpu(locks, monkeypatch) -> None:
    monkeypatch.setenv(devices.SCALE_ENV, "demo")
    assert pick_device("cpu") == torch.device("cpu")


def test_set_scale_records_the_workflows_scale(locks, monkeypatch) -> None:
    monkeypatch.setenv(devices.SCALE_ENV, "demo")  # restored after the test
    devices.set_scale({"scale": {"name": "paper"}})
    with pytest.raises(RuntimeError, match="scale.name: paper"):
        pick_device("cpu")
