"""How fast the workflow answers "is anything to do?" on a finished run.

Times, in a project folder holding a finished run (default: the current folder), interleaved
over ``--repeat`` rounds:

* ``snakemake -n all`` (budget 3 s) against the baseline ``snakemake --version`` (interpreter
  and import only), and
* a no-op ``dvc repro`` (budget 10 s; needs ``dvc.lock`` from ``dvc commit`` or an earlier
  ``dvc repro``) against the baseline ``dvc --version``,

and prints the medians, their ratio to the baseline and whether each is within budget. Both
commands must report nothing to do; the script stops with an error if one would run a job.

    .venv/bin/python bench/bench_dag.py [--dir PROJECT] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
BUDGETS = {"snakemake -n all": 3.0, "dvc repro": 10.0}
#: dvc repro always runs the stage (always_changed): Snakemake then finds nothing to do
NOTHING_TO_DO = {"snakemake -n all": "Nothing to be done", "dvc repro": "Nothing to be done"}


def _timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")  # dvc's cmd
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout + proc.stderr


def _check_nothing_to_do(name: str, output: str) -> None:
    if NOTHING_TO_DO[name] not in output:
        raise SystemExit(f"{name} would run something:\n{output[-2000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("."), help="a finished project folder")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    pairs = {
        "snakemake -n all": (
            [str(BIN / "snakemake"), "-n", "all"],
            [str(BIN / "snakemake"), "--version"],
        ),
        "dvc repro": ([str(BIN / "dvc"), "repro"], [str(BIN / "dvc"), "--version"]),
    }
    times: dict[str, list[float]] = {k: [] for k in pairs}
    base: dict[str, list[float]] = {k: [] for k in pairs}
    for _ in range(args.repeat):
        for name, (cmd, baseline) in pairs.items():
            elapsed, output = _timed(cmd, args.dir)
            _check_nothing_to_do(name, output)
            times[name].append(elapsed)
            base[name].append(_timed(baseline, args.dir)[0])
    print(f"{'command':<18} {'median':>8} {'baseline':>9} {'ratio':>6} {'budget':>7}  within")
    for name in pairs:
        t, b = statistics.median(times[name]), statistics.median(base[name])
        budget = BUDGETS[name]
        print(f"{name:<18} {t:7.2f}s {b:8.2f}s {t / b:5.1f}x {budget:6.0f}s  {t <= budget}")


if __name__ == "__main__":
    main()
