"""Where a pipeline run's time went: job time per rule from Snakemake's own log.

Snakemake prints a timestamp line before each job it starts (``rule``/``localrule`` with its
``jobid``) and before each ``Finished jobid`` line. This reads such a log (``make run > run.log``,
or a ``.snakemake/log/*.snakemake.log``) and prints, per rule in order of first start: the number
of jobs, their summed wall time (jobs side by side each count their own) and the window from the
first job's start to the last one's finish, in seconds from the run's first job; then the DAG's
wall time. Snakemake's timestamps have whole seconds, so jobs of a second or less show 0-1 s::

    .venv/bin/python bench/job_times.py run.log
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d+ [\d:]+ \d{4})\]")
_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):")
_JOBID = re.compile(r"^\s+jobid: (\d+)")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")


@dataclass(frozen=True)
class Job:
    """One finished job: its rule, start and finish."""

    rule: str
    start: datetime
    end: datetime


def finished_jobs(lines: Iterable[str]) -> list[Job]:
    """The jobs of a Snakemake log that started and finished in it, in order of finishing."""
    stamp: datetime | None = None
    rule: str | None = None
    started: dict[str, tuple[str, datetime]] = {}
    jobs = []
    for line in lines:
        if m := _STAMP.match(line):
            stamp = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := _RULE.match(line):
            rule = m.group(1)
        elif (m := _JOBID.match(line)) and rule is not None and stamp is not None:
            started[m.group(1)] = (rule, stamp)
            rule = None
        elif (m := _FINISHED.match(line)) and m.group(1) in started and stamp is not None:
            name, start = started.pop(m.group(1))
            jobs.append(Job(name, start, stamp))
    return jobs


def rule_summary(jobs: list[Job]) -> list[tuple[str, int, float, float, float]]:
    """Per rule, in order of first start: (rule, jobs, summed seconds, window start, window
    end), the window in seconds from the first job's start."""
    if not jobs:
        return []
    t0 = min(j.start for j in jobs)
    rows: dict[str, list] = {}
    for job in sorted(jobs, key=lambda j: j.start):
        row = rows.setdefault(job.rule, [job.rule, 0, 0.0, None, None])
        row[1] += 1
        row[2] += (job.end - job.start).total_seconds()
        begin, end = (job.start - t0).total_seconds(), (job.end - t0).total_seconds()
        row[3] = begin if row[3] is None else min(row[3], begin)
        row[4] = end if row[4] is None else max(row[4], end)
    return [tuple(r) for r in rows.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="a Snakemake log (make run's output)")
    args = parser.parse_args()
    jobs = finished_jobs(args.log.read_text(errors="replace").splitlines())
    if not jobs:
        raise SystemExit(f"{args.log}: no finished Snakemake job found")
    for rule, n, seconds, begin, end in rule_summary(jobs):
        print(f"{rule:26s} {n:3d} jobs {seconds:7.0f} s job time, window {begin:6.0f}-{end:6.0f} s")
    t0, t1 = min(j.start for j in jobs), max(j.end for j in jobs)
    print(f"DAG: {len(jobs)} jobs, {(t1 - t0).total_seconds():.0f} s from {t0} to {t1}")


if __name__ == "__main__":
    main()
