"""Every Snakemake command shown in the README, the docs and the Snakefile runs as written.

Each is run as a dry run (``-n``) in a fresh folder holding the project's params.yaml, so a
command that Snakemake rejects (e.g. a target right after ``--resources``) fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


def documented_commands() -> list[str]:
    """``snakemake ...`` lines of code blocks in the docs and of the Snakefile's header."""
    found: list[str] = []
    for path in DOCS:
        blocks = re.findall(r"```[a-z]*\n(.*?)```", path.read_text(), flags=re.S)
        for line in "\n".join(blocks).splitlines():
            command = line.split("  #")[0].strip()
            if command.startswith("snakemake "):
                found.append(command)
    for line in (ROOT / "Snakefile").read_text().splitlines():
        match = re.match(r"#\s*Run:\s*(snakemake .*?)(\s{2,}|\(|$)", line)
        if match:
            found.append(match.group(1).strip())
    return sorted(set(found))


COMMANDS = documented_commands()
#: Commands that need a finished run, tested on the tiny pipeline in test_workflow.py instead.
NEEDS_RESULTS = ("--report",)
DRY_RUNNABLE = [c for c in COMMANDS if not any(flag in c for flag in NEEDS_RESULTS)]


def test_the_docs_show_snakemake_commands() -> None:
    assert any("--resources gpu=1" in c for c in COMMANDS), COMMANDS


def _params_for(command: str, folder: Path) -> None:
    """The project's params.yaml in ``folder``; for the paper profile with the opt-in that lets
    it run on the synthetic data (it refuses them otherwise, see the test below)."""
    text = (ROOT / "params.yaml").read_text()
    if "profiles/paper" in command:
        assert "  allow_synthetic: false\n" in text
        text = text.replace("  allow_synthetic: false\n", "  allow_synthetic: true\n")
    (folder / "params.yaml").write_text(text)


def test_the_paper_profile_refuses_synthetic_data_naming_the_setting(tmp_path: Path) -> None:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    cmd += ["all", "-n", "--profile", "profiles/paper"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "data.cbis_ddsm.root and data.inbreast.root are 'synthetic'" in out
    assert "scale.allow_synthetic: true" in out


@pytest.mark.parametrize("command", DRY_RUNNABLE)
def test_documented_command_dry_runs(command: str, tmp_path: Path) -> None:
    _params_for(command, tmp_path)
    args = shlex.split(command)[1:]
    if "-n" not in args and "--dry-run" not in args:
        args.insert(0, "-n")
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), *args]
    env = dict(os.environ, TORCH_HOME=str(tmp_path / "torch-home"))
    if "profiles/paper" in command:  # the paper profile stops without ImageNet weights
        hub = tmp_path / "torch-home" / "hub" / "checkpoints"
        hub.mkdir(parents=True)
        for name in ("resnet50-0676ba61.pth", "vgg16-397923af.pth"):
            (hub / name).write_bytes(b"")  # a dry run only checks that the files exist
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
