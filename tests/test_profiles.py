"""The SLURM workflow profile (profiles/slurm) and the local cluster submit script.

No training: the profile is read as YAML, dry-run against the real Snakefile, and run for real
only on throwaway Snakefiles (one submitted through stub SLURM commands); tests/cluster/submit.sh
starts a tiny job script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config

from e2e_mammo.config import validate_params

ROOT = Path(__file__).resolve().parents[1]
PROFILE_DIR = ROOT / "profiles" / "slurm"
PROFILE_FILE = PROFILE_DIR / "config.yaml"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SUBMIT = ROOT / "tests" / "cluster" / "submit.sh"
#: The rules declared with `resources: gpu=1` in workflow/rules/.
GPU_RULES = ("train_patch_classifier", "train_whole_image", "transfer_cell")


def profile() -> dict:
    return yaml.safe_load(PROFILE_FILE.read_text())


def tracking_override() -> dict:
    """The profile's `config:` entries, parsed the way Snakemake parses `--config`."""
    return parse_config(profile()["config"])["tracking"]


def run_snakemake(workdir: Path, snakefile: Path, *args: str, **kwargs):
    cmd = [str(SNAKEMAKE), *args, "--workflow-profile", str(PROFILE_DIR)]
    cmd += ["-s", str(snakefile), "--directory", str(workdir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)


# --- the profile file ---------------------------------------------------------------------


def test_slurm_profile_names_slurm_executor():
    assert profile()["executor"] == "slurm"


def test_slurm_profile_reruns_on_the_same_triggers_as_the_default_profile():
    default = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert profile()["rerun-triggers"] == default["rerun-triggers"]


def test_slurm_profile_lets_several_gpu_jobs_run_at_once():
    # profiles/default's `gpu: 1` would serialise every GPU job on the cluster
    assert profile()["resources"]["gpu"] > 1


def test_slurm_profile_puts_training_rules_on_one_gpu_partition_with_more_time():
    settings = profile()
    default = settings["default-resources"]
    partitions = {settings["set-resources"][rule]["slurm_partition"] for rule in GPU_RULES}
    assert len(partitions) == 1 and all(partitions)
    for rule in GPU_RULES:
        rule_resources = settings["set-resources"][rule]
        assert rule_resources["runtime"] > default["runtime"]
        assert rule_resources["mem_mb"] > default["mem_mb"]
        assert "gres" not in rule_resources  # the plugin refuses `gres` together with `gpu`


def test_slurm_profile_comments_every_entry():
    lines = PROFILE_FILE.read_text().splitlines()
    keys = [i for i, line in enumerate(lines) if line and not line.startswith((" ", "#", "-"))]
    assert keys
    for i in keys:
        assert lines[i - 1].startswith("#"), f"no comment above {lines[i]!r}"


# --- the MLflow tracking override ---------------------------------------------------------


def test_tracking_override_points_at_a_server():
    assert tracking_override()["uri"].startswith(("http://", "https://"))


def test_tracking_override_passes_the_params_schema():
    # `--config` values are YAML-parsed with BaseLoader (all strings): an `enabled: true` here
    # would arrive as "true" and fail the schema's boolean, so the profile leaves it out
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    update_config(params, {"tracking": tracking_override()})
    validate_params(params, ROOT / "workflow" / "schemas" / "params.schema.yaml")
    assert params["tracking"]["enabled"] is True


def test_tracking_override_reaches_the_workflow_config(tmp_path):
    # The real workflow's scripts read config["tracking"]; a throwaway Snakefile with the same
    # `configfile:` shows what that config holds under the profile (a dry run, parse time).
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        'import json\n\nconfigfile: "params.yaml"\n\n'
        'print("TRACKING=" + json.dumps(config["tracking"]))\n\n'
        'rule show:\n    output: "shown.txt"\n    shell: "touch {output}"\n'
    )
    proc = run_snakemake(tmp_path, snakefile, "-n")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("TRACKING="))
    tracking = json.loads(line.removeprefix("TRACKING="))
    assert tracking == {"enabled": True, **tracking_override()}


# --- a job submitted through stub SLURM commands ------------------------------------------

STUBS = {
    # records its arguments (NUL-separated, one call after another), "runs" the job by making
    # its output, and answers a job id the way `sbatch --parsable` does
    "sbatch": '#!/bin/sh\nprintf "%s\\0" "$@" >> "$SBATCH_CALLS"\ntouch done.txt\necho 4242\n',
    # the job's state, for the plugin's status query
    "sacct": '#!/bin/sh\necho "4242|COMPLETED"\n',
    # the user's accounts, for the plugin's account check: the profile's, whatever it is
    "sacctmgr": '#!/bin/sh\necho "$SLURM_TEST_ACCOUNT"\n',
    # its presence tells the plugin it is on a SLURM cluster
    "sinfo": "#!/bin/sh\necho PARTITION\n",
}


@pytest.fixture(scope="module")
def sbatch_args(tmp_path_factory) -> list[str]:
    """The sbatch arguments of a GPU job (a rule named like a training rule, threads 8, gpu=1),
    run for real under the profile with stub sbatch/sacct/sacctmgr/sinfo first on PATH."""
    tmp = tmp_path_factory.mktemp("slurm")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, text in STUBS.items():
        stub = bin_dir / name
        stub.write_text(text)
        stub.chmod(0o755)
    workdir = tmp / "work"
    workdir.mkdir()
    snakefile = workdir / "Snakefile"
    snakefile.write_text(
        'rule train_whole_image:\n    output: "done.txt"\n    threads: 8\n'
        "    resources:\n        gpu=1,\n"
        '    shell: "touch {output}"\n'
    )
    calls = tmp / "sbatch_calls"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env["SBATCH_CALLS"] = str(calls)
    env["SLURM_TEST_ACCOUNT"] = str(profile()["default-resources"]["slurm_account"])
    env.pop("SLURM_JOB_ID", None)
    quick = ["--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "1"]
    proc = run_snakemake(workdir, snakefile, *quick, env=env)
    assert proc.returncode == 0, proc.stderr
    return calls.read_text().split("\0")


def test_gpu_job_asks_sbatch_for_a_gpu(sbatch_args):
    assert "--gpus=1" in sbatch_args


def test_gpu_job_asks_sbatch_for_its_threads_as_cpus(sbatch_args):
    assert "--cpus-per-task=8" in sbatch_args


def test_gpu_job_goes_to_the_profiles_gpu_partition_with_its_limits(sbatch_args):
    rule = profile()["set-resources"]["train_whole_image"]
    pairs = set(zip(sbatch_args, sbatch_args[1:], strict=False))
    assert ("-p", rule["slurm_partition"]) in pairs
    assert ("-t", str(rule["runtime"])) in pairs
    assert ("--mem", str(rule["mem_mb"])) in pairs


def test_submitted_job_gets_the_tracking_override(sbatch_args):
    # the job re-runs Snakemake on the compute node with the profile's --config
    wrap = next(a for a in sbatch_args if a.startswith("--wrap="))
    assert f'--config "{profile()["config"][0]}"' in wrap


# --- a dry run of the real workflow -------------------------------------------------------


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> subprocess.CompletedProcess:
    """`snakemake all -n` of the real Snakefile under the profile, in a folder holding params.yaml.

    No stub commands are needed: a dry run uses Snakemake's own dry-run executor, and the slurm
    plugin only reads its settings (without `sinfo` on PATH it just finds no status command).
    """
    workdir = tmp_path_factory.mktemp("dry-run")
    shutil.copy(ROOT / "params.yaml", workdir / "params.yaml")
    return run_snakemake(workdir, ROOT / "Snakefile", "all", "-n")


def job_resources(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run lists."""
    jobs, rule = [], None
    for line in output.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("resources:"):
            items = line.split(":", 1)[1].split(",")
            jobs.append((rule, dict(item.strip().split("=", 1) for item in items)))
            rule = None
    return jobs


@pytest.mark.slow
def test_dry_run_of_all_succeeds(dry_run):
    assert dry_run.returncode == 0, dry_run.stderr
    assert "This was a dry-run" in dry_run.stdout


@pytest.mark.slow
def test_dry_run_gives_training_jobs_a_gpu_on_the_gpu_partition(dry_run):
    settings = profile()["set-resources"]
    gpu_jobs = [(rule, res) for rule, res in job_resources(dry_run.stdout) if rule in GPU_RULES]
    assert gpu_jobs
    for rule, resources in gpu_jobs:
        assert resources["gpu"] == "1", rule
        assert resources["slurm_partition"] == settings[rule]["slurm_partition"], rule


@pytest.mark.slow
def test_dry_run_gives_other_jobs_no_gpu(dry_run):
    others = [res for rule, res in job_resources(dry_run.stdout) if rule not in GPU_RULES]
    assert others
    assert not [res for res in others if "gpu" in res]


@pytest.mark.slow
def test_dry_run_merges_the_profiles_config_over_params(dry_run):
    output = dry_run.stdout + dry_run.stderr
    assert "is extended by additional config specified via the command line" in output


# --- tests/cluster/submit.sh --------------------------------------------------------------


def wait_for(path: Path, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture()
def job(tmp_path):
    """A job script that waits (up to 10 s) for a `go` file, then prints and writes `ran.txt`;
    the `go` file is always made at the end, so no job outlives its test."""
    script = tmp_path / "snakejob.demo.7.sh"
    script.write_text(
        "#!/bin/sh\ni=0\n"
        f'while [ ! -e "{tmp_path}/go" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done\n'
        f'echo "job output"\necho ran > "{tmp_path}/ran.txt"\n'
    )
    script.chmod(0o755)
    yield script
    (tmp_path / "go").touch()


def submit(script: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "E2E_CLUSTER_LOGS"} | env
    return subprocess.run(
        [str(SUBMIT), str(script)],
        cwd=script.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_submit_prints_a_numeric_id_before_the_job_ends(job):
    proc = submit(job)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().isdigit()
    assert not (job.parent / "ran.txt").exists()  # the job still waits for `go`


def test_submitted_job_runs_to_the_end_on_its_own(job):
    submit(job)
    (job.parent / "go").touch()
    assert wait_for(job.parent / "ran.txt")


@pytest.mark.skipif(shutil.which("setsid") is None, reason="no setsid: nohup only")
def test_submitted_job_runs_in_its_own_session(job):
    pid = int(submit(job).stdout)
    end = time.monotonic() + 5  # the child may not have called setsid yet
    while os.getsid(pid) != pid and time.monotonic() < end:
        time.sleep(0.02)
    assert os.getsid(pid) == pid != os.getsid(0)


def test_submitted_job_logs_to_logs_cluster_by_default(job):
    submit(job)
    (job.parent / "go").touch()
    assert wait_for(job.parent / "ran.txt")
    log = job.parent / "logs" / "cluster" / "snakejob.demo.7.log"
    assert log.read_text() == "job output\n"


def test_submitted_job_logs_under_e2e_cluster_logs(job, tmp_path):
    submit(job, E2E_CLUSTER_LOGS=str(tmp_path / "elsewhere"))
    (job.parent / "go").touch()
    assert wait_for(job.parent / "ran.txt")
    assert (tmp_path / "elsewhere" / "snakejob.demo.7.log").read_text() == "job output\n"
