"""bench/paper_scale.py: the paper profile's work, the extrapolation arithmetic, and a tiny run of
the measuring code path on the CPU (a smoke test: the numbers it measures mean nothing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers.bench_modules import load_bench_module

ps = load_bench_module("paper_scale")


@pytest.fixture(scope="module")
def config() -> dict:
    return ps.load_profile()


def test_the_profile_is_params_yaml_with_the_paper_profile_over_it(config) -> None:
    assert config["scale"]["name"] == "paper"
    assert config["convert"]["size"] == [1152, 896]
    assert config["patch_training"]["rows"] == "all" and config["whole_image"]["rows"] == "all"
    assert config["patches"]["size"] == 224  # from params.yaml, not the profile


def test_data_sizes_follow_the_constants_and_the_profiles_split(config) -> None:
    sizes = ps.data_sizes(config)
    assert sizes.images == {"train": 2319, "val": 258, "test": 455}  # 3,032 x .765/.085/.15
    assert sizes.patches["S10"]["train"] == 2730 * 20  # round(3,568 x 0.765) ROIs x (10 + 10)
    assert sizes.patches["S1"]["train"] == 2730 * 2
    assert sum(sizes.patches["S10"].values()) == 3568 * 20  # 71,360: the "~71k"
    assert sizes.inbreast_subsets == {
        "20": 79,
        "30": 117,
        "40": 159,
        "50": 199,
        "60": 239,
        "all": 280,
    }


def test_the_paper_work_counts_every_row_and_cell(config) -> None:
    work = ps.paper_work(config)
    jobs = {w.job for w in work}
    assert len([j for j in jobs if j.startswith("table1/")]) == len(config["table1"])
    # every Table 2/3 row but the two-step baseline (a random forest, not a training loop)
    assert len([j for j in jobs if j.startswith(("table2/", "table3/"))]) == 13 - 1 + 9
    # 4 models x 6 sizes + 2 more seeds of the control's row at size 20; the control: 6 + 2
    assert len([j for j in jobs if j.startswith("results/transfer/")]) == 26 + 8


def test_stage_steps_are_epochs_times_batches(config) -> None:
    work = ps.paper_work(config)
    rows = {r["stage"]: r for r in ps.stage_rows(work, {})}
    # resnet50-Y-S10 alone trains the head: 3 epochs of ceil(54,600 / 32) batches
    assert rows["Table 1 resnet50 S10: head trainable"]["steps"] == 3 * math.ceil(54_600 / 32)
    # 12 ResNet50 rows x 30 epochs x ceil(2,319 / 2) batches
    stage1 = rows["Tables 2-3 resnet50: stage 1 top_layers (head trainable)"]
    assert (stage1["jobs"], stage1["steps"]) == (12, 12 * 30 * 1160)
    # every fine-tuned ResNet50 cell: 200 epochs of its subset in batches of 2
    fine = rows["Table 4 resnet50: fine_tune (all trainable)"]
    per_model = sum(math.ceil(n / 2) for n in (79, 117, 159, 199, 239, 280)) * 200
    assert fine["steps"] == 3 * per_model + 2 * 2 * 200 * math.ceil(79 / 2)
    assert all(r["hours"] is None for r in rows.values())  # nothing measured


def _work(job: str, phase: int, bench: str, steps: int, optional: bool = False):
    return ps.Work(job, phase, f"T {bench}: x", bench, steps, optional=optional)


def test_hours_are_steps_times_seconds() -> None:
    work = [
        _work("a", 1, "b1", 3600),
        _work("a", 1, "b2", 1800),
        _work("b", 2, "b1", 7200),
        _work("b", 2, "b2", 3600, optional=True),
    ]
    sec = {"b1": 2.0, "b2": 1.0}
    assert ps.job_hours(work, sec) == {"a": (1, 2.5), "b": (2, 4.0)}
    assert ps.job_hours(work, sec, optional=True)["b"] == (2, 5.0)
    rows = {r["stage"]: r for r in ps.stage_rows(work, sec)}
    assert rows["T b1: x"]["hours"] == pytest.approx(6.0) and rows["T b1: x"]["jobs"] == 2
    assert rows["T b2: x"]["s_per_step"] == 1.0
    est = ps.gpu_estimates(work, sec, counts=(1, 2))
    assert est["total_hours"] == pytest.approx(6.5)
    assert est["total_hours_with_extension"] == pytest.approx(7.5)
    assert est["makespan_hours"] == {1: 6.5, 2: 6.5}  # one job per phase: no gain
    assert ps.gpu_estimates(work, {"b1": 2.0}) == {"missing": "b2"}


def test_lpt_makespan_and_phases() -> None:
    assert ps.lpt_makespan([5, 4, 3, 3, 3], 1) == 18
    assert ps.lpt_makespan([5, 4, 3, 3, 3], 2) == 10  # LPT: 5+3 | 4+3+3 (optimum 9)
    assert ps.lpt_makespan([5, 4, 3, 3, 3], 8) == 5
    jobs = {"p1": (1, 2.0), "p2": (1, 1.0), "w1": (2, 3.0), "w2": (2, 3.0), "t": (3, 1.0)}
    assert ps.makespan_hours(jobs, 1) == 10.0
    assert ps.makespan_hours(jobs, 2) == 6.0  # 2 | 3 | 1: the phases run one after the other
    assert ps.makespan_hours(jobs, 4) == 6.0


def test_timed_batches_time_only_the_steps_after_warm_up() -> None:
    batches = ps.TimedBatches([1, 2, 3], warmup=1, steps=2, device="cpu")
    assert list(batches) == [1, 2, 3]
    total = batches.stop()
    assert len(batches.waits) == 2 and total > 0
    assert sum(batches.step_times()) == pytest.approx(total)


def test_quick_cpu_run_measures_and_extrapolates(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    args = ["--quick", "--size", "64", "48", "--steps", "1", "--warmup", "0"]
    args += ["--device", "cpu", "--variants", "fp32", "--workers", "0", "--out", str(out)]
    args += ["--only", "patch/resnet50/train-head", "whole/resnet50/tta"]
    result = ps.main(args)
    assert json.loads(out.read_text())["measurements"] == result["measurements"]
    measured = {m["bench"]: m for m in result["measurements"]}
    assert set(measured) == {"patch/resnet50/train-head", "whole/resnet50/tta"}
    assert all(m["s_per_step"] > 0 and 0 <= m["data_wait_share"] < 1 for m in measured.values())
    assert measured["patch/resnet50/train-head"]["batch"] == 32
    rows = {r["stage"]: r for r in result["stages"]["fp32"]}
    head = rows["Table 1 resnet50 S10: head trainable"]
    assert head["hours"] == pytest.approx(head["steps"] * head["s_per_step"] / 3600)
    assert result["estimates"]["fp32"]["missing"]  # the other steps were not measured
