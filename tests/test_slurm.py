"""The tiny pipeline through a real SLURM, with profiles/slurm and snakemake-executor-plugin-slurm.

`make test-slurm` starts a single-node SLURM on this machine (tools/slurm_single_node.sh: slurmctld,
slurmd and munge from Debian's packages, one node with a stand-in `gpu` GRES), runs this module and
stops the daemons. The tests check what a cluster user relies on:

* every non-local job of the CI-sized DAG is a SLURM job (the cluster's job records against
  Snakemake's job list) and the local rules are not;
* the profile's resources reach `sbatch`: the training rules (`resources: gpu=1`) ask for a GPU
  (`--gpus=1`, SLURM's TresPerJob gres:gpu:1) and the others do not; partition, time limit, memory
  and CPUs are what the profile says;
* each job's SLURM log lands where the profile says (logs/slurm/<rule>/<wildcards>/<job id>.log);
* the outputs equal a local run's (model weights tensor for tensor, tables and predictions byte
  for byte; MLflow run ids and provenance aside);
* a training job cancelled by SLURM (`scancel` once it has written a checkpoint) is rerun with
  `--rerun-incomplete`, resumes from its checkpoint and ends with the uninterrupted run's result.

The site-specific lines of profiles/slurm/config.yaml (marked EDIT there) are filled in for this
cluster by :func:`site_profile`, as a user would edit them. The module skips, saying why, unless
the cluster it finds is the one tools/slurm_single_node.sh wrote (it never submits to a real
site's cluster); `make test-slurm` sets E2E_REQUIRE_SLURM=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from helpers.mlflow_server import mlflow_server as start_mlflow_server
from helpers.pipeline_copy import copy_pipeline

from e2e_mammo.plan.matrix import ExperimentPlan
from e2e_mammo.plan.schedules import total_epochs
from e2e_mammo.training.checkpoint import FILE as CHECKPOINT_FILE

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
TEST_PARAMS = ROOT / ".test" / "params.yaml"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
#: The first line of the configuration tools/slurm_single_node.sh writes.
CLUSTER_MARK = "# Written by tools/slurm_single_node.sh"
#: The rules with `resources: gpu=1` (workflow/rules/train_patch.smk, train_whole.smk,
#: transfer.smk): the ones that must ask SLURM for a GPU.
GPU_RULES = {"train_patch_classifier", "train_whole_image", "transfer_cell"}
#: The row the cancellation test retrains, for about this many epochs (~1 s each here): long
#: enough to pass the patch stage's 30 s checkpoint interval and still be running afterwards.
CANCEL_ROW, CANCEL_EPOCHS = "resnet50-N-S1", 80
TIMEOUT_S = 2400


@dataclass(frozen=True)
class Cluster:
    """The single-node cluster: its default partition, the node's CPUs and memory (MB), and the
    job completion log (JobCompLoc) that holds a record of every finished job."""

    partition: str
    cpus: int
    mem_mb: int
    jobcomp: Path


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("E2E_REQUIRE_SLURM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _conf_value(key: str) -> str:
    match = re.search(rf"^{key}=(\S+)", SLURM_CONF.read_text(), re.MULTILINE)
    assert match, f"{SLURM_CONF} has no {key}"
    return match.group(1)


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    if shutil.which("sbatch") is None:
        _skip_or_fail("no sbatch on PATH: `make test-slurm` installs and starts a test cluster")
    if not SLURM_CONF.is_file() or not SLURM_CONF.read_text().startswith(CLUSTER_MARK):
        _skip_or_fail(
            f"{SLURM_CONF} is not the test cluster of tools/slurm_single_node.sh (these tests "
            "submit ~30 jobs and cancel one: run them with `make test-slurm`)"
        )
    info = subprocess.run(
        ["sinfo", "-h", "-o", "%P|%t|%c|%m"], capture_output=True, text=True, timeout=30
    )
    lines = [line.split("|") for line in info.stdout.split()]
    if info.returncode != 0 or not lines:
        _skip_or_fail(f"slurmctld does not answer ({info.stderr.strip()}): run `make test-slurm`")
    default = next((row for row in lines if row[0].endswith("*")), lines[0])
    partition, state, cpus, mem = default
    if state not in {"idle", "mix", "alloc"}:
        _skip_or_fail(f"the test node is {state}, not idle: see tools/slurm_single_node.sh status")
    jobcomp = Path(_conf_value("JobCompLoc"))
    return Cluster(partition.rstrip("*"), int(cpus), int(mem.rstrip("+")), jobcomp)


def site_profile(cluster: Cluster, tracking_uri: str) -> dict:
    """profiles/slurm/config.yaml with its EDIT lines filled in for ``cluster``, as a site would.

    Partition: the cluster's. Account: none (no accounting database, so no accounts:
    ``slurm-no-account``). Job status: ``squeue`` (``sacct`` needs the accounting database;
    tools/slurm_single_node.sh keeps finished jobs in squeue for an hour). Memory: at most half the
    node's, CPUs: at most the node's (a 2-core node cannot give a job the 8 threads the training
    rules ask for). MLflow: the test's server. Status checks every 5 s (the jobs are short)."""
    profile = yaml.safe_load(PROFILE.read_text())
    for resources in [profile["default-resources"], *profile["set-resources"].values()]:
        resources["slurm_partition"] = cluster.partition
        resources.pop("slurm_account", None)
        if "mem_mb" in resources:
            resources["mem_mb"] = min(int(resources["mem_mb"]), cluster.mem_mb // 2)
    profile["slurm-no-account"] = True
    profile["slurm-status-command"] = "squeue"
    profile["slurm-init-seconds-before-status-checks"] = 5
    profile["seconds-between-status-checks"] = 5
    profile["max-threads"] = cluster.cpus
    profile["latency-wait"] = 5
    (entry,) = profile["config"]
    uri = re.search(r"uri: '([^']+)'", entry).group(1)
    profile["config"] = [entry.replace(uri, tracking_uri)]
    return profile


def write_profile(folder: Path, profile: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


#: One TORCH_HOME for every run of the module: the records of the rows left without ImageNet
#: weights name the file to put there, so the runs compare equal only with the same one.
TORCH_HOME = Path(os.environ.get("TMPDIR", "/tmp")) / f"e2e-slurm-test-torch-home-{os.getpid()}"


def snakemake(
    workdir: Path, *args: str, profile: Path | None = None
) -> subprocess.CompletedProcess:
    """Snakemake on the project's Snakefile in ``workdir`` (run from there: the plugin's log
    folder is relative to where it starts), with the SLURM ``profile`` or locally on 2 cores."""
    cmd = [str(SNAKEMAKE), *args, "-s", str(ROOT / "Snakefile")]
    cmd += ["--workflow-profile", str(profile)] if profile else ["--cores", "2"]
    if profile is None:
        cmd += ["--resources", "gpu=1"]
    return subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env()
    )


def _env() -> dict[str, str]:
    return dict(os.environ, TORCH_HOME=str(TORCH_HOME))


def tiny_params(tracking_uri: str) -> dict:
    params = yaml.safe_load(TEST_PARAMS.read_text())
    params["tracking"]["uri"] = tracking_uri
    return params


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory):
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


@dataclass(frozen=True)
class SlurmRun:
    workdir: Path
    profile: dict
    profile_dir: Path
    snakemake_log: str


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, tracking: str):
    """The CI-sized pipeline through SLURM, from nothing."""
    workdir = tmp_path_factory.mktemp("slurm-pipeline")
    (workdir / "params.yaml").write_text(yaml.safe_dump(tiny_params(tracking)))
    profile = site_profile(cluster, tracking)
    profile_dir = write_profile(workdir / "site-profile", profile)
    proc = snakemake(workdir, "all", profile=profile_dir)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return SlurmRun(workdir, profile, profile_dir, proc.stderr)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, tracking: str) -> Path:
    """The same pipeline on 2 local cores, logging to the same MLflow server."""
    workdir = tmp_path_factory.mktemp("local-pipeline")
    (workdir / "params.yaml").write_text(yaml.safe_dump(tiny_params(tracking)))
    proc = snakemake(workdir, "all")
    assert proc.returncode == 0, proc.stderr[-6000:]
    return workdir


# --- the cluster's records -------------------------------------------------------------------


def _fields(line: str) -> dict[str, str]:
    """``Key=value`` pairs of one SLURM record line (values without spaces)."""
    return dict(re.findall(r"(\w+)=(\S*)", line))


def jobcomp_records(cluster: Cluster, workdir: Path) -> list[dict[str, str]]:
    """The job completion log's records of the jobs that ran in ``workdir``."""
    records = [_fields(line) for line in cluster.jobcomp.read_text().splitlines() if line]
    return [r for r in records if r.get("WorkDir") == str(workdir)]


def job_details(job_id: str) -> dict[str, str]:
    """``scontrol show job``'s record of a job (kept MinJobAge = 1 h after it ends)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return _fields(out.stdout)


def job_rule(details: dict[str, str]) -> str:
    """The rule of a job from the comment the plugin gives it: rule_<rule>[_wildcards_<...>]."""
    comment = details["Comment"]
    assert comment.startswith("rule_"), comment
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def snakemake_jobs(log: str) -> tuple[Counter, Counter]:
    """(remote, local) jobs per rule in Snakemake's own log of a run."""
    remote = Counter(re.findall(r"^rule (\w+):$", log, re.MULTILINE))
    local = Counter(re.findall(r"^localrule (\w+):$", log, re.MULTILINE))
    return remote, local


def slurm_minutes(limit: str) -> int:
    """Minutes of a SLURM time limit printed as [D-]HH:MM:SS."""
    days, _, clock = limit.rpartition("-")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + minutes + (seconds > 0)


@pytest.fixture(scope="module")
def slurm_jobs(cluster: Cluster, slurm_run: SlurmRun) -> list[dict[str, str]]:
    """Each SLURM job of the pipeline run: its completion record merged with scontrol's."""
    return [
        {**record, **job_details(record["JobId"])}
        for record in jobcomp_records(cluster, slurm_run.workdir)
    ]


def test_every_non_local_job_is_a_slurm_job(slurm_run: SlurmRun, slurm_jobs: list) -> None:
    remote, local = snakemake_jobs(slurm_run.snakemake_log)
    assert Counter(job_rule(job) for job in slurm_jobs) == remote
    assert {job["JobState"] for job in slurm_jobs} == {"COMPLETED"}
    assert not set(local) & set(remote)
    assert local["all"] == 1 and local["split_dataset"] == 2  # localrules ran, not as jobs


def test_training_jobs_and_only_they_ask_slurm_for_a_gpu(slurm_jobs: list) -> None:
    asks = {job_rule(job): job.get("TresPerJob", "") == "gres:gpu:1" for job in slurm_jobs}
    assert {rule for rule, gpu in asks.items() if gpu} == GPU_RULES


def test_jobs_get_the_profiles_partition_time_memory_and_cpus(
    cluster: Cluster, slurm_run: SlurmRun, slurm_jobs: list
) -> None:
    profile = slurm_run.profile
    for job in slurm_jobs:
        rule = job_rule(job)
        wanted = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
        assert job["Partition"] == wanted["slurm_partition"], job
        assert slurm_minutes(job["TimeLimit"]) == int(wanted["runtime"]), job
        assert job["MinMemoryNode"] == f"{wanted['mem_mb']}M", job
        if rule in GPU_RULES:  # threads: 8, capped at the node's CPUs
            assert int(job["NumCPUs"]) == min(8, cluster.cpus), job


def test_each_jobs_log_lands_where_the_profile_says(slurm_run: SlurmRun, slurm_jobs: list) -> None:
    logdir = slurm_run.workdir / slurm_run.profile["slurm-logdir"]
    logs = {p.stem: p for p in logdir.rglob("*.log")}
    assert sorted(logs) == sorted(job["JobId"] for job in slurm_jobs)
    for job in slurm_jobs:
        log = logs[job["JobId"]]
        assert log.relative_to(logdir).parts[0] == f"rule_{job_rule(job)}"
        assert Path(job["StdOut"]) == log
        assert f"rule {job_rule(job)}:" in log.read_text()


# --- the outputs against a local run ---------------------------------------------------------


def _same(a: object, b: object) -> bool:
    """Equal bundles/records, tensors compared exactly; provenance and MLflow run ids aside."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        skip = {"provenance", "mlflow_run_id"}
        keys = set(a) - skip
        return keys == set(b) - skip and all(_same(a[k], b[k]) for k in keys)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def same_output(a: Path, b: Path) -> bool:
    if a.suffix == ".pt":
        load = dict(map_location="cpu", weights_only=False)
        return _same(torch.load(a, **load), torch.load(b, **load))
    if a.suffix == ".json":
        return _same(yaml.safe_load(a.read_text()), yaml.safe_load(b.read_text()))
    return a.read_bytes() == b.read_bytes()


def compared_files(results: Path) -> set[Path]:
    """The outputs to compare: all but MLflow's records and the conversion journals (times)."""
    files = {p.relative_to(results) for p in results.rglob("*") if p.is_file()}
    return {p for p in files if p.parts[0] != "mlflow" and not p.name.startswith(".")}


def test_slurm_outputs_equal_a_local_runs(slurm_run: SlurmRun, local_run: Path) -> None:
    ours, theirs = slurm_run.workdir / "results", local_run / "results"
    files = compared_files(ours)
    assert files == compared_files(theirs)
    assert len(files) > 300
    differ = sorted(str(p) for p in files if not same_output(ours / p, theirs / p))
    assert not differ, differ


# --- a job cancelled by SLURM ----------------------------------------------------------------


def _long_row_params(params: dict) -> dict:
    """``params`` with patch_training.epoch_scale set so that CANCEL_ROW trains ~CANCEL_EPOCHS."""
    full = dict(params, patch_training=dict(params["patch_training"], epoch_scale=1.0))
    epochs = total_epochs(ExperimentPlan.from_config(full).patch_row(CANCEL_ROW).schedule)
    params["patch_training"]["epoch_scale"] = CANCEL_EPOCHS / epochs
    return params


def _cancel_once_checkpointed(workdir: Path, job: subprocess.Popen, timeout_s: float) -> str:
    """Wait for the training job's checkpoint, then ``scancel`` its SLURM job; its id."""
    checkpoint = workdir / "results/patch_models" / CANCEL_ROW / "checkpoints" / CHECKPOINT_FILE
    deadline = time.monotonic() + timeout_s
    while not checkpoint.is_file():
        assert job.poll() is None, "snakemake ended before the job wrote a checkpoint"
        assert time.monotonic() < deadline, f"no checkpoint at {checkpoint}"
        time.sleep(0.5)
    queue = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k|%Z"], capture_output=True, text=True
    )
    (job_id,) = [
        line.split("|")[0]
        for line in queue.stdout.splitlines()
        if line.endswith(f"|{workdir}") and "rule_train_patch_classifier" in line
    ]
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    return job_id


def test_a_cancelled_training_job_resumes_from_its_checkpoint(
    tmp_path: Path, cluster: Cluster, slurm_run: SlurmRun, local_run: Path
) -> None:
    workdir = copy_pipeline(slurm_run.workdir, tmp_path / "slurm")
    params = _long_row_params(yaml.safe_load((workdir / "params.yaml").read_text()))
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    target = f"results/patch_models/{CANCEL_ROW}/model.pt"
    cmd = [str(SNAKEMAKE), target, "-s", str(ROOT / "Snakefile")]
    cmd += ["--workflow-profile", str(slurm_run.profile_dir)]
    with (tmp_path / "first.log").open("w") as out:  # a file: a pipe could fill and block it
        with subprocess.Popen(
            cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=_env()
        ) as first:
            cancelled = _cancel_once_checkpointed(workdir, first, timeout_s=600)
            first.wait(timeout=600)
    first_log = (tmp_path / "first.log").read_text()
    assert first.returncode != 0 and "CANCELLED" in first_log, first_log[-3000:]

    rerun = snakemake(workdir, target, "--rerun-incomplete", profile=slurm_run.profile_dir)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    log = (workdir / "logs/train_patch" / f"{CANCEL_ROW}.log").read_text()
    assert "resuming the interrupted run" in log
    states = {r["JobId"]: r["JobState"] for r in jobcomp_records(cluster, workdir)}
    assert states[cancelled] == "CANCELLED" and list(states.values()).count("COMPLETED") == 1

    # the resumed run ends where an uninterrupted one does
    uninterrupted = copy_pipeline(local_run, tmp_path / "local")
    (uninterrupted / "params.yaml").write_text(yaml.safe_dump(params))
    assert snakemake(uninterrupted, target).returncode == 0
    folder = Path("results/patch_models") / CANCEL_ROW
    for name in ["history.csv", "predictions.csv", "model.pt"]:
        assert same_output(workdir / folder / name, uninterrupted / folder / name), name
