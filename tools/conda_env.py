"""Render ``envs/e2e-mammo.yaml`` (the conda environment of ``snakemake --sdm conda``) from
``requirements.lock``, so that the conda jobs get exactly the versions the pip install gets.

``python tools/conda_env.py`` rewrites the file; ``make lock`` runs it after locking, and
``tests/test_lock.py`` fails when the committed file differs from what this renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
CONDA_ENV = ROOT / "envs" / "e2e-mammo.yaml"

HEADER = """\
# Conda environment for `snakemake --sdm conda`. GENERATED from requirements.lock by
# `make lock` (tools/conda_env.py); do not edit: tests/test_lock.py fails when they drift.
# The pins are the lock's exact versions; the lock also holds their hashes, which `make run`
# and `make test` verify (pip --require-hashes). The e2e_mammo package itself is installed
# from this checkout by the last pip line (path relative to this file's folder).
channels:
  - conda-forge
  - nodefaults
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def locked_requirements(lock_text: str) -> list[str]:
    """The lock's requirement lines (``name==version`` with any ``; marker``), in its order,
    without their ``--hash`` options and ``# via`` comments."""
    lines: list[str] = []
    for raw in lock_text.splitlines():
        if not raw.strip() or raw[0] in " \t#-":
            continue
        lines.append(raw.rstrip("\\").strip())
    return lines


def render(lock_text: str) -> str:
    """The conda environment file for the lock's pins."""
    pins = [f"      - {_quoted(line)}\n" for line in locked_requirements(lock_text)]
    return HEADER + "".join(pins) + "      - -e ..\n"


def _quoted(requirement: str) -> str:
    """A YAML scalar for a requirement line (a marker holds ``'`` and ``;``, so quote it)."""
    if ";" not in requirement:
        return requirement
    return '"' + requirement.replace('"', '\\"') + '"'


def main() -> int:
    CONDA_ENV.write_text(render(LOCK.read_text()))
    print(f"wrote {CONDA_ENV.relative_to(ROOT)} from {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
