"""bench/job_times.py: job times per rule read from a Snakemake log (a tiny log written here)."""

from __future__ import annotations

from helpers.bench_modules import load_bench_module

jt = load_bench_module("job_times")

LOG = """\
Building DAG of jobs...
[Tue Dec  8 02:59:47 2026]
localrule synth_dataset:
    output: results/synthetic/inbreast/INbreast.csv
    jobid: 3
    wildcards: dataset=inbreast
[Tue Dec  8 02:59:47 2026]
rule train_whole_image:
    output: results/whole_models/a/result.json
    jobid: 7
[Tue Dec  8 02:59:50 2026]
rule train_whole_image:
    output: results/whole_models/b/result.json
    jobid: 8
[Tue Dec  8 03:00:47 2026]
Finished jobid: 3 (Rule: synth_dataset)
1 of 4 steps (25%) done
[Tue Dec  8 03:01:47 2026]
Finished jobid: 7 (Rule: train_whole_image)
[Tue Dec  8 03:02:00 2026]
Finished jobid: 8 (Rule: train_whole_image)
[Tue Dec  8 03:02:01 2026]
rule claims:
    jobid: 9
"""


def test_jobs_pair_their_start_and_finish_lines() -> None:
    jobs = jt.finished_jobs(LOG.splitlines())
    assert [(j.rule, (j.end - j.start).total_seconds()) for j in jobs] == [
        ("synth_dataset", 60.0),
        ("train_whole_image", 120.0),
        ("train_whole_image", 130.0),
    ]


def test_a_job_still_running_at_the_end_of_the_log_is_left_out() -> None:
    assert "claims" not in {j.rule for j in jt.finished_jobs(LOG.splitlines())}


def test_rules_sum_their_jobs_and_span_their_window() -> None:
    rows = jt.rule_summary(jt.finished_jobs(LOG.splitlines()))
    assert rows == [
        ("synth_dataset", 1, 60.0, 0.0, 60.0),
        ("train_whole_image", 2, 250.0, 0.0, 133.0),
    ]
