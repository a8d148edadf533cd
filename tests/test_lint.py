"""House style is part of the test-suite: ruff, snakefmt and the Snakemake linter are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    proc = _run(str(BIN / "ruff"), "check", "src", "tests", "workflow/scripts", "bench")
    assert proc.returncode == 0, proc.stdout


def test_snakefmt_is_clean() -> None:
    proc = _run(str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules")
    assert proc.returncode == 0, proc.stderr


def test_snakemake_lint_is_clean() -> None:
    proc = _run(str(BIN / "snakemake"), "--lint")
    assert proc.returncode == 0 and "good condition" in proc.stdout + proc.stderr, proc.stdout
