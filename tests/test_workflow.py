"""The real Snakemake DAG, end to end, on a tiny synthetic configuration.

The tiny pipeline runs on 2 local cores (each script job its own process), logging to a real
`mlflow server` over HTTP. A cluster user's path, every job through
snakemake-executor-plugin-cluster-generic as a detached process (tests/cluster/submit.sh), is
run on the DAG's first stages in a fresh folder. Further tests reuse the tiny pipeline's
results: the report, the DVC round trip, parallel jobs on the SQLite store, predict.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.mlflow_server import mlflow_server as start_mlflow_server
from helpers.pipeline_copy import copy_pipeline

from e2e_mammo.preprocess.subsets import subset_patient_count

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SUBMIT = ROOT / "tests/cluster/submit.sh"


#: The CI-sized configuration (.test/params.yaml: params.yaml with .test/overrides.yaml).
TEST_PARAMS = ROOT / ".test" / "params.yaml"


def tiny_params() -> dict:
    """A fresh copy of the CI-sized configuration."""
    return yaml.safe_load(TEST_PARAMS.read_text())


_TINY = tiny_params()
#: The tiny ensemble's families (one member each; see .test/overrides.yaml).
TINY_FAMILIES = _TINY["ensemble"]["families"]
TINY_K = len(TINY_FAMILIES)
#: The tiny sweep: two sizes that train and one listed as not run.
TINY_SIZES = _TINY["transfer"]["sweep"]["sizes"]
#: One whole-image row of every kind (see .test/overrides.yaml).
TINY_WHOLE_ROWS = _TINY["whole_image"]["rows"]


def run_snakemake(
    workdir: Path, *args: str, cores: int = 2, gpus: int = 1, snakefile: Path = ROOT / "Snakefile"
) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), *args, "-s", str(snakefile), "--directory", str(workdir)]
    cmd += ["--cores", str(cores), "--resources", f"gpu={gpus}"]
    env = dict(os.environ, TORCH_HOME=str(workdir / "torch-home"))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, artifacts it serves); its URI."""
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, mlflow_server: str) -> Path:
    workdir = tmp_path_factory.mktemp("pipeline")
    params = tiny_params()
    params["tracking"]["uri"] = mlflow_server
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_snakemake(workdir, "all", gpus=2)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_cluster_executor_runs_each_job_as_a_detached_process(tmp_path: Path) -> None:
    """The DAG's first stages through snakemake-executor-plugin-cluster-generic and
    tests/cluster/submit.sh: each remote job (synthesis, indexing, conversion) a process of its
    own with its log, the local rule (the split) in Snakemake's process."""
    params = tiny_params()
    params["tracking"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    cluster = ["--executor", "cluster-generic", "--cluster-generic-submit-cmd", str(SUBMIT)]
    cluster += ["--jobs", "3", "--local-cores", "2", "--seconds-between-status-checks", "1"]
    cluster += ["--max-threads", "2"]  # a remote job's threads are not capped by --cores
    target = "results/splits/cbis-ddsm/splits.csv"
    proc = run_snakemake(tmp_path, target, *cluster)
    assert proc.returncode == 0, proc.stderr[-4000:]
    logs = sorted(p.name for p in (tmp_path / "logs/cluster").glob("*.log"))
    assert len(logs) == 3, logs  # synth_dataset, index_cbis_ddsm, convert_dataset
    assert (tmp_path / target).is_file()


def _parents(pipeline: Path) -> dict[str, str]:
    """``{group: parent run id}`` of the tiny pipeline's context (synthetic data, demo scale)."""
    record = json.loads((pipeline / "results/mlflow/experiment.json").read_text())
    return record["parents"]["synthetic-demo"]


def _client(pipeline: Path):
    from mlflow.tracking import MlflowClient

    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    client = MlflowClient(tracking_uri=params["tracking"]["uri"])
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    return client, experiment.experiment_id


@pytest.mark.slow
def test_a_finished_run_leaves_its_output_times_in_order(
    pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from e2e_mammo.output_times import inconsistent, read_records

    monkeypatch.chdir(pipeline)  # before any test runs Snakemake (which restores them)
    records = read_records(".snakemake/metadata")
    assert len(records) > 50 and not inconsistent(records)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["cbis-ddsm", "inbreast"])
def test_dag_splits_every_converted_image(pipeline: Path, dataset: str) -> None:
    manifest = pd.read_csv(pipeline / f"results/converted/{dataset}/manifest.csv", dtype=str)
    splits = pd.read_csv(pipeline / f"results/splits/{dataset}/splits.csv", dtype=str)
    assert len(manifest) > 0
    assert set(splits["image_id"]) == set(manifest["image_id"])
    assert (splits.groupby("patient_id")["split"].nunique() == 1).all()


@pytest.mark.slow
def test_dag_writes_pngs_listed_in_manifest(pipeline: Path) -> None:
    manifest = pd.read_csv(pipeline / "results/converted/cbis-ddsm/manifest.csv")
    for png in manifest["png_path"]:
        path = Path(png) if Path(png).is_absolute() else pipeline / png
        assert path.is_file(), path


@pytest.mark.slow
def test_dag_converts_cbis_masks(pipeline: Path) -> None:
    masks = pd.read_csv(pipeline / "results/converted/cbis-ddsm/masks.csv")
    rois = pd.read_csv(pipeline / "results/index/cbis-ddsm/rois.csv")
    assert len(masks) > 0 and len(masks) <= len(rois)


def _split_seed(params: dict) -> None:
    params["split"]["seed"] = 99


def _table1_paper_numbers(params: dict) -> None:
    for row in params["table1"]:  # trained rows and rows recorded as not run
        row["paper_accuracy"], row["paper_best_epoch"] = 0.5, 1


def _whole_image_seed(params: dict) -> None:
    params["whole_image"]["seed"] = 7
    params["whole_image"]["workers"] = 2  # speed only: reruns nothing by itself


def _table2_paper_numbers(params: dict) -> None:
    for row in params["table2"]:
        row["paper_auc"] = 0.5


def _added_seed(params: dict) -> None:
    params["transfer"]["sweep"]["seeds"] = [5, 6]


#: Parameter changes tried by dry runs, each on its own copy of the finished tiny pipeline.
CHANGES = {
    "split_seed": _split_seed,
    "table1_paper_numbers": _table1_paper_numbers,
    "whole_image_seed": _whole_image_seed,
    "table2_paper_numbers": _table2_paper_numbers,
    "added_seed": _added_seed,
}


def _append(module: str, text: str):
    def edit(package: Path) -> None:
        path = package / module
        path.write_text(path.read_text() + text)

    return edit


def _comment_and_docstring(package: Path) -> None:
    path = package / "training/loop.py"
    source = path.read_text()
    assert '"""' in source
    path.write_text("# an added comment\n" + source.replace('"""', '"""Edited. ', 1))


#: Code edits tried by dry runs, each on its own copy of the finished tiny pipeline and of the
#: workflow and package it hashes (Snakefile, workflow/, src/e2e_mammo beside it).
CODE_CHANGES = {
    "table4_code": _append("reporting/table4.py", "\n_EDITED = 1\n"),
    "loop_code": _append("training/loop.py", "\n_EDITED = 1\n"),
    "comment_only": _comment_and_docstring,
}


def copy_workflow(workdir: Path) -> Path:
    """The project's Snakefile, workflow/, profiles/, envs/ and package source into
    ``workdir``; the copied Snakefile hashes the copied package (its jobs' code)."""
    shutil.copy2(ROOT / "Snakefile", workdir / "Snakefile")
    for folder in ("workflow", "profiles", "envs"):
        shutil.copytree(ROOT / folder, workdir / folder, dirs_exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src/e2e_mammo", workdir / "src/e2e_mammo", ignore=ignore)
    return workdir / "Snakefile"


@pytest.fixture(scope="module")
def dry_runs(
    pipeline: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess]:
    """`snakemake all -n` after each change of :data:`CHANGES` and :data:`CODE_CHANGES` (and,
    as ``unchanged``, on the finished pipeline itself), run three at a time."""
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path_factory.mktemp("dry-runs")

    def dry_run(name: str) -> subprocess.CompletedProcess:
        if name == "unchanged":
            return run_snakemake(pipeline, "all", "-n")
        workdir = copy_pipeline(pipeline, folder / name)
        if name in CODE_CHANGES:
            snakefile = copy_workflow(workdir)
            CODE_CHANGES[name](workdir / "src/e2e_mammo")
            return run_snakemake(workdir, "all", "-n", snakefile=snakefile)
        params = yaml.safe_load((workdir / "params.yaml").read_text())
        CHANGES[name](params)
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
        return run_snakemake(workdir, "all", "-n")

    names = ["unchanged", *CHANGES, *CODE_CHANGES]
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(names, pool.map(dry_run, names), strict=True))


def _job_stats(out: str) -> dict[str, str]:
    return dict(
        line.split()
        for line in out.split("Job stats:")[-1].splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )


@pytest.mark.slow
def test_dag_is_up_to_date_after_run(dry_runs: dict) -> None:
    proc = dry_runs["unchanged"]
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_an_edit_of_the_table4_module_reruns_table4_and_no_training(dry_runs: dict) -> None:
    proc = dry_runs["table4_code"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = _job_stats(proc.stdout)
    assert "table4" in stats
    for job in ("train_patch_classifier", "train_whole_image", "transfer_cell", "two_step"):
        assert job not in stats, job


@pytest.mark.slow
def test_an_edit_of_the_training_loop_reruns_the_training_jobs(dry_runs: dict) -> None:
    proc = dry_runs["loop_code"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = _job_stats(proc.stdout)
    # the INbreast cells follow the ensemble checkpoint, which reruns: a dry run lists them
    # only once it has run (their own code version changed as well)
    for job in ("train_patch_classifier", "train_whole_image", "ensemble"):
        assert job in stats, job
    assert "synth_dataset" not in stats and "convert_dataset" not in stats


@pytest.mark.slow
def test_a_comment_or_docstring_edit_reruns_nothing(dry_runs: dict) -> None:
    proc = dry_runs["comment_only"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_param_change_reruns_only_downstream(dry_runs: dict) -> None:
    proc = dry_runs["split_seed"]
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "split_dataset" in out
    assert "convert_dataset" not in out and "synth_dataset" not in out


@pytest.mark.slow
def test_published_number_change_reruns_only_the_table(dry_runs: dict) -> None:
    proc = dry_runs["table1_paper_numbers"]
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "rule table1:" in out or "table1" in out.split("Job stats:")[-1]
    assert "train_patch_classifier" not in out and "patch_row_not_run" not in out


@pytest.mark.slow
def test_trained_rows_declare_their_network(pipeline: Path) -> None:
    for row in ("resnet50-N-S1", "resnet50-N-S10"):
        folder = pipeline / "results/patch_models" / row
        for name in ("model.pt", "predictions.csv", "history.csv", "result.json"):
            assert (folder / name).is_file(), folder / name
        assert not (folder / "checkpoints").exists()


def test_invalid_params_stop_with_key_named(tmp_path: Path) -> None:
    params = tiny_params()
    params["convert"]["size"] = [64]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_snakemake(tmp_path, "all", "-n")
    assert proc.returncode != 0
    assert "convert.size" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_dag_builds_table1_with_every_row(pipeline: Path) -> None:
    table = pd.read_csv(pipeline / "results/tables/table1.csv")
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    assert list(table["row"]) == [r["row"] for r in params["table1"]]
    ran = table[table["pretrained"] == "N"]
    assert (ran["status"] == "ok").all() and ran["test_accuracy"].between(0, 1).all()
    skipped = table[table["pretrained"] == "Y"]
    assert (skipped["status"] == "not run").all()
    assert skipped["note"].str.contains("hub/checkpoints").all()


@pytest.mark.slow
def test_dag_logs_one_mlflow_run_per_table1_row(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    every = client.search_runs([experiment_id])
    runs = {r.data.tags["row"]: r for r in every if r.data.tags.get("table") == "1"}
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    assert sorted(runs) == sorted(r["row"] for r in params["table1"])
    for table in ("2", "3"):  # one run per row of Tables 2 and 3, trained or not
        rows = [r.data.tags["row"] for r in every if r.data.tags.get("table") == table]
        assert sorted(rows) == sorted(r["row"] for r in params[f"table{table}"])
    others = sorted(r.data.tags["stage"] for r in every if "row" not in r.data.tags)
    assert others == ["claims"] + ["ensemble"] * 2 + ["group"] * 5  # 4 tables, superseded
    for row in ("resnet50-N-S1", "resnet50-N-S10"):
        run = runs[row]
        assert run.data.tags["table"] == "1" and run.data.tags["status"] == "ok"
        assert "test_accuracy" in run.data.metrics
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == list(range(1, len(history) + 1))
    assert runs["vgg16-Y-S10"].data.tags["status"] == "not run"
    assert "vgg16-397923af.pth" in runs["vgg16-Y-S10"].data.params["note"]


@pytest.mark.slow
@pytest.mark.parametrize("table", [2, 3])
def test_dag_builds_whole_image_tables_with_every_row(pipeline: Path, table: int) -> None:
    frame = pd.read_csv(pipeline / f"results/tables/table{table}.csv")
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    assert list(frame["row"]) == [r["row"] for r in params[f"table{table}"]]
    trained = frame["row"].isin(TINY_WHOLE_ROWS)
    assert (frame.loc[trained, "status"] == "ok").all()
    assert (frame.loc[~trained, "status"] == "not in demo").all()
    assert frame.loc[~trained, "note"].str.contains("profiles/paper").all()
    assert frame.loc[trained, "paper_auc"].notna().all()
    markdown = (pipeline / f"results/tables/table{table}.md").read_text()
    assert "never the paper" in markdown


@pytest.mark.slow
def test_dag_trains_every_kind_of_whole_image_row(pipeline: Path) -> None:
    for row in TINY_WHOLE_ROWS:
        folder = pipeline / "results/whole_models" / row
        result = json.loads((folder / "result.json").read_text())
        assert result["status"] == "ok", row
        predictions = pd.read_csv(folder / "predictions.csv")
        if row.endswith("two-step"):
            assert not (folder / "model.pt").exists()
            assert set(predictions["split"]) == {"train", "val", "test"}
        else:
            assert set(predictions["split"]) == {"val", "test"}
            assert (folder / "model.pt").is_file() and result["epochs_trained"] == 2
            assert "tta_prob_malignant" in predictions


@pytest.mark.slow
def test_dag_writes_the_ensemble_and_figures(pipeline: Path) -> None:
    ensemble = pd.read_csv(pipeline / "results/tables/ensemble.csv")
    assert list(ensemble["dataset"]) == ["cbis-ddsm", "inbreast"]
    members = ensemble.loc[0, "members"].split(";")
    assert len(members) == TINY_K and not any(m.endswith("two-step") for m in members)
    assert ensemble.loc[1, "members"] == ensemble.loc[0, "members"]  # the fine-tuned members
    assert ensemble.loc[1, "threshold_split"] == "fixed" and ensemble.loc[1, "eval_split"] == "val"
    for name in ("fig2_loss.png", "fig3a_roc.png", "fig3b_roc.png", "heatmap_overlays.png"):
        assert (pipeline / "results/figures" / name).stat().st_size > 0


@pytest.mark.slow
def test_dag_computes_the_papers_claims_with_verdicts(pipeline: Path) -> None:
    from e2e_mammo.evaluation.paired import VERDICTS
    from e2e_mammo.reporting.claims import COLUMNS

    claims = pd.read_csv(pipeline / "results/tables/claims.csv")
    assert list(claims.columns) == COLUMNS
    assert set(claims["verdict"]) <= set(VERDICTS)
    ran = claims[claims["verdict"] != "not run"]
    assert (ran["ci_low"] <= ran["difference"]).all() and (
        ran["difference"] <= ran["ci_high"]
    ).all()
    # the tiny pipeline trains no S1 whole-image row: claim 1 names the switch that trains it
    (first,) = claims[claims["claim"].str.startswith("1.")].itertuples()
    assert first.verdict == "not run" and "profiles/paper" in first.note
    assert claims["claim"].str.startswith("3.").sum() == 5 + 1  # each end-to-end row, pooled
    assert (claims.loc[claims["claim"].str.startswith("8a."), "verdict"] != "not run").all()
    assert (pipeline / "results/report/claims.html").stat().st_size > 0


@pytest.mark.slow
def test_ensemble_bundle_loads_alone_with_its_members_and_provenance(pipeline: Path) -> None:
    from e2e_mammo.models.bundle import load_bundle

    bundle = load_bundle(pipeline / "results/ensemble/cbis-ddsm/bundle.pt")
    assert [m.name for m in bundle.members] == _cbis_members(pipeline)
    assert bundle.preprocess["image_size"] == [192, 144]
    assert bundle.provenance["data"] == "synthetic"
    for member in bundle.members:
        assert member.heatmap is not None
        assert set(member.provenance["data_files"]) == {"splits", "manifest"}
        assert member.provenance["metrics"]["val_a_auc"] is not None


@pytest.mark.slow
def test_predict_on_the_dicoms_gives_the_ensembles_scores(pipeline: Path, tmp_path: Path) -> None:
    """``e2e-mammo predict FOLDER`` (default model: the ensemble bundle) on two test images'
    original DICOMs reproduces the ensemble's scores of their converted PNGs."""
    averaged = pd.read_csv(pipeline / "results/ensemble/cbis-ddsm/predictions.csv")
    test = averaged[averaged["split"] == "test"].head(2)
    manifest = pd.read_csv(pipeline / "results/converted/cbis-ddsm/manifest.csv")
    dicoms = manifest.set_index("image_id").loc[test["image_id"], "dicom_path"]
    folder = tmp_path / "dicoms"
    folder.mkdir()
    for image_id, dicom in dicoms.items():
        (folder / f"{image_id}.dcm").symlink_to(pipeline / dicom)
    cli = Path(sys.executable).with_name("e2e-mammo")
    done = subprocess.run(
        [str(cli), "predict", str(folder), "--out", str(tmp_path / "preds")],
        cwd=pipeline,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(tmp_path / "preds/image_predictions.csv").set_index("image_index")
    expected = test.set_index("image_id")["score"]
    np.testing.assert_allclose(scored.loc[expected.index, "malignant_pred"], expected, atol=1e-4)
    assert (tmp_path / "preds/breast_predictions.csv").is_file()


@pytest.mark.slow
def test_whole_image_param_change_reruns_no_patch_job(dry_runs: dict) -> None:
    out = dry_runs["whole_image_seed"].stdout
    stats = out.split("Job stats:")[-1]
    assert "train_whole_image" in stats and "ensemble" in stats
    assert "train_patch_classifier" not in stats and "two_step" not in stats


@pytest.mark.slow
def test_published_whole_image_numbers_rerun_only_their_table(dry_runs: dict) -> None:
    stats = dry_runs["table2_paper_numbers"].stdout.split("Job stats:")[-1]
    assert "table2" in stats
    for job in ("train_whole_image", "two_step", "whole_row_not_run", "table3", "ensemble"):
        assert job not in stats, job


def _cbis_members(pipeline: Path) -> list[str]:
    summary = json.loads((pipeline / "results/ensemble/cbis-ddsm/summary.json").read_text())
    return summary["members"].split(";")


@pytest.mark.slow
def test_dag_builds_table4_with_every_size_the_members_and_the_control(pipeline: Path) -> None:
    frame = pd.read_csv(pipeline / "results/tables/table4.csv", dtype={"size": str})
    assert list(dict.fromkeys(frame["size"])) == ["20", "40", "all"]
    ran = frame[frame["status"] == "ok"]
    members = _cbis_members(pipeline)
    for size in ("20", "40"):
        cells = ran[ran["size"] == size]
        assert sorted(cells.loc[cells["init"] == "whole_image", "model"]) == sorted(members)
        assert list(cells.loc[cells["init"] == "patch_only", "model"]) == [members[0]]
        assert cells["auc"].between(0, 1).all() and (cells["ci_low"] <= cells["ci_high"]).all()
    small, large = (ran.loc[ran["size"] == s, "n_patients"].iloc[0] for s in ("20", "40"))
    splits = pd.read_csv(pipeline / "results/splits/inbreast/splits.csv")
    n_train = splits.loc[splits["split"] == "train", "patient_id"].nunique()
    assert (small, large) == tuple(subset_patient_count(s, n_train, 72) for s in (20, 40))
    assert small < large
    assert (frame.loc[frame["size"] == "all", "status"] == "not in demo").all()
    assert "profiles/paper" in (pipeline / "results/tables/table4.md").read_text()
    assert (pipeline / "results/figures/table4_sweep.png").stat().st_size > 0


@pytest.mark.slow
def test_dag_nests_the_sweeps_subsets(pipeline: Path) -> None:
    folder = pipeline / "results/transfer/whole_image" / _cbis_members(pipeline)[0]
    small = pd.read_csv(folder / "n20-s5/subset.csv")
    large = pd.read_csv(folder / "n40-s5/subset.csv")
    assert set(small["patient_id"]) < set(large["patient_id"])
    splits = pd.read_csv(pipeline / "results/splits/inbreast/splits.csv")
    assert set(large["image_id"]) <= set(splits.loc[splits["split"] == "train", "image_id"])
    assert large["label"].nunique() == 2  # stratified: both classes


@pytest.mark.slow
def test_dag_logs_the_sweeps_cells_under_one_parent_run(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id])
    cells = [r for r in runs if r.data.tags.get("table") == "4"]
    assert len(cells) == 2 * (TINY_K + 1)
    assert {r.data.tags["mlflow.parentRunId"] for r in cells} == {
        _parents(pipeline)["table4-sweep"]
    }
    assert all(r.info.status == "FINISHED" and "val_auc" in r.data.metrics for r in cells)


@pytest.mark.slow
def test_added_seed_adds_cells_and_reruns_no_finished_one(dry_runs: dict) -> None:
    out = dry_runs["added_seed"].stdout
    stats = _job_stats(out)
    assert stats["transfer_cell"] == str(2 * (TINY_K + 1)) and "table4" in stats
    for job in ("train_whole_image", "ensemble", "inbreast_ensemble", "train_patch_classifier"):
        assert job not in stats, job
    outputs = [line for line in out.splitlines() if line.strip().startswith("output:")]
    assert not any("-s5/" in line for line in outputs)  # the finished seed's cells stay
    assert sum("-s6/" in line for line in outputs) == 2 * (TINY_K + 1)


METADATA = ".snakemake/metadata"  # Snakemake's records, versioned beside the results
TABLE_GROUPS = {"1": "table1", "2": "table2", "3": "table3", "4": "table4-sweep"}


@pytest.mark.slow
def test_every_tables_rows_are_children_of_its_parent_run(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id], max_results=1000)
    parents = _parents(pipeline)
    for table, group in TABLE_GROUPS.items():
        rows = [r for r in runs if r.data.tags.get("table") == table]
        assert rows and {r.data.tags["mlflow.parentRunId"] for r in rows} == {parents[group]}
        names = [r.info.run_name for r in rows]
        assert len(names) == len(set(names)), group  # one current run per row
        parent = client.get_run(parents[group])
        assert parent.info.run_name == f"{group} (synthetic, demo)"
        assert parent.info.status == "FINISHED" and parent.data.tags["e2e.data"] == "synthetic"


@pytest.mark.slow
def test_rows_of_one_table_log_the_same_metric_keys(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id], max_results=1000)
    for table in TABLE_GROUPS:
        trained = [
            r
            for r in runs
            if r.data.tags.get("table") == table
            and r.data.tags.get("status") == "ok"
            and r.data.tags.get("stage") != "two_step"  # a forest: no epochs, no losses
        ]
        assert len({frozenset(r.data.metrics) for r in trained}) == 1, table


@pytest.mark.slow
def test_ensemble_runs_are_parents_of_their_members_runs(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id], max_results=1000)
    for dataset in ("cbis-ddsm", "inbreast"):
        (ensemble,) = [
            r
            for r in runs
            if r.data.tags.get("stage") == "ensemble" and r.data.tags["dataset"] == dataset
        ]
        members = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == ensemble.info.run_id]
        assert sorted(r.data.tags["row"] for r in members) == sorted(_cbis_members(pipeline))
        assert {frozenset(r.data.metrics) for r in members} == {
            frozenset({"a_auc", "a_auc_ci_low", "a_auc_ci_high"})  # flip-averaged: a_auc
        }


@pytest.mark.slow
def test_trained_models_runs_name_their_dvc_path_and_content_hash(pipeline: Path) -> None:
    import hashlib

    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id], "tags.model_md5 != ''", max_results=1000)
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["pipeline"]
    outs = {next(iter(o)) for o in stage["outs"]}
    models = sorted(pipeline.glob("results/*/*/model.pt"))
    models += sorted(pipeline.glob("results/transfer/*/*/*/model.pt"))
    assert len(runs) == len(models)
    for run in runs:
        tags = run.data.tags
        model = pipeline / tags["model_path"]
        assert hashlib.md5(model.read_bytes()).hexdigest() == tags["model_md5"]
        assert tags["dvc_out"] in outs and tags["model_path"].startswith(tags["dvc_out"])


@pytest.mark.slow
def test_every_run_carries_its_data_scale_and_commit(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id], max_results=1000)
    assert len(runs) > 20
    for run in runs:
        tags = run.data.tags
        assert (tags["e2e.data"], tags["e2e.scale"], tags["e2e.numbers"]) == (
            "synthetic",
            "demo",
            "demo",
        ), run.info.run_name
        assert tags["git_commit"] and tags["mlflow.source.git.commit"]
    jobs = [r for r in runs if r.data.tags.get("stage") != "group"]
    assert all(r.data.tags["e2e.current"] in ("true", "false") for r in jobs)


@pytest.mark.slow
def test_each_tables_parent_run_holds_its_table_and_figure(pipeline: Path) -> None:
    client, _ = _client(pipeline)
    parents = _parents(pipeline)
    for number in ("1", "2", "3"):
        listed = {a.path for a in client.list_artifacts(parents[f"table{number}"])}
        assert listed == {f"table{number}.csv", f"table{number}.md"}
    sweep = {a.path for a in client.list_artifacts(parents["table4-sweep"])}
    assert sweep == {"table4.csv", "table4.md", "table4_sweep.png"}


@pytest.mark.slow
def test_each_trained_model_is_a_logged_model_referencing_its_dvc_file(pipeline: Path) -> None:
    import hashlib

    client, experiment_id = _client(pipeline)
    runs = client.search_runs([experiment_id], "tags.model_md5 != ''", max_results=1000)
    for run in runs:
        (output,) = run.outputs.model_outputs
        model = client.get_logged_model(output.model_id)
        assert model.tags["mlflow.model.isExternal"] == "true"
        assert model.tags["model_md5"] == run.data.tags["model_md5"]
        weights = (pipeline / model.tags["model_path"]).read_bytes()
        assert hashlib.md5(weights).hexdigest() == model.tags["model_md5"]
        assert {m.key for m in model.metrics} and model.source_run_id == run.info.run_id


@pytest.mark.slow
def test_the_cbis_ddsm_ensemble_is_registered_under_its_contexts_alias(pipeline: Path) -> None:
    import hashlib

    client, _ = _client(pipeline)
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    name = f"{params['tracking']['experiment']}-cbis-ddsm-ensemble"
    version = client.get_model_version_by_alias(name, "synthetic-demo")
    model = client.get_logged_model(version.source.removeprefix("models:/"))
    bundle = (pipeline / "results/ensemble/cbis-ddsm/bundle.pt").read_bytes()
    assert model.tags["model_path"] == "results/ensemble/cbis-ddsm/bundle.pt"
    assert model.tags["model_md5"] == hashlib.md5(bundle).hexdigest()
    assert {m.key for m in model.metrics} >= {"auc", "ci_low", "ci_high"}


@pytest.mark.slow
def test_training_runs_log_their_split_tables_as_dataset_inputs(pipeline: Path) -> None:
    client, experiment_id = _client(pipeline)
    # MLflow's search takes IN only on attributes and datasets, not on tags: one query per stage.
    runs = [
        run
        for stage in ("patch", "whole_image", "transfer")
        for run in client.search_runs(
            [experiment_id], f"tags.status = 'ok' and tags.stage = '{stage}'", max_results=1000
        )
    ]
    assert runs
    for run in runs:
        names = {d.dataset.name for d in run.inputs.dataset_inputs}
        if run.data.tags["stage"] == "patch":
            assert {n.rsplit("/", 1)[1] for n in names} == {"train", "val", "test"}, names
        else:
            assert len(names) == 1 and next(iter(names)).endswith("/splits"), names


@pytest.mark.slow
def test_a_tables_runs_read_back_through_the_rest_api(pipeline: Path) -> None:
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    record = json.loads((pipeline / "results/mlflow/experiment.json").read_text())
    query = {
        "experiment_ids": [record["experiment_id"]],
        "filter": f"tags.mlflow.parentRunId = '{_parents(pipeline)['table1']}'",
        "max_results": 100,
    }
    request = urllib.request.Request(
        f"{params['tracking']['uri']}/api/2.0/mlflow/runs/search",
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        runs = json.load(reply)["runs"]
    tags = [{t["key"]: t["value"] for t in run["data"]["tags"]} for run in runs]
    assert sorted(t["row"] for t in tags) == sorted(r["row"] for r in params["table1"])
    assert {run["info"]["status"] for run in runs} == {"FINISHED"}
    trained = [run for run, t in zip(runs, tags, strict=True) if t["status"] == "ok"]
    assert trained and all(
        "test_accuracy" in {m["key"] for m in run["data"]["metrics"]} for run in trained
    )


@pytest.mark.slow
def test_four_parallel_training_jobs_lose_no_run_on_the_sqlite_store(
    pipeline: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    workdir = copy_pipeline(pipeline, tmp_path / "copy")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["tracking"]["uri"] = "sqlite:///mlflow.db"  # reruns mlflow_init only: no training
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    cells = sorted(workdir.glob("results/transfer/*/*/n*-s5/result.json"))[:4]
    targets = [str(c.relative_to(workdir)) for c in cells]
    proc = run_snakemake(
        workdir,
        *targets,
        "--forcerun",
        "transfer_cell",
        "--set-threads",
        "transfer_cell=1",
        cores=4,
        gpus=4,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.count("rule transfer_cell:") == 4
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(params["tracking"]["experiment"])
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    cell_runs = [r for r in runs if r.data.tags.get("stage") == "transfer"]
    assert len(cell_runs) == 4 and all(r.info.status == "FINISHED" for r in runs)
    assert sorted(r.info.run_id for r in cell_runs) == sorted(
        json.loads(c.read_text())["mlflow_run_id"] for c in cells
    )


def _paths_in_plot(plot) -> list[str]:
    name, spec = next(iter(plot.items()))
    return list(spec["y"]) if isinstance(spec.get("y"), dict) else [name]


@pytest.mark.slow
def test_dvc_versions_exactly_the_folders_the_dag_writes(pipeline: Path) -> None:
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = {next(iter(o)) for o in dvc["stages"]["pipeline"]["outs"]} - {METADATA}
    written = {
        "/".join(p.relative_to(pipeline).parts[:2])
        for p in (pipeline / "results").rglob("*")
        if p.is_file()
    }
    assert written == outs
    declared = list(dvc["metrics"]) + [p for plot in dvc["plots"] for p in _paths_in_plot(plot)]
    for path in declared:
        assert (pipeline / path).exists(), path
        assert any(path == out or path.startswith(out + "/") for out in outs), path


@pytest.mark.slow
def test_report_is_one_page_with_every_table_and_figure(pipeline: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    proc = run_snakemake(pipeline, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-4000:]
    page = report.read_text()
    for name in ("table1", "table2", "table3", "table4", "ensemble"):
        assert f"{name}.html" in page, name
    for caption in ("Fig 2", "Fig 3a", "Fig 3b", "Fig 4", "Table 4 sweep", "Heatmap overlays"):
        assert caption in page, caption
    assert "demo numbers" in page and "0.91" in page  # demo said; the paper's number beside
    assert page.count("data:image/png") >= 6  # self-contained: the figures are embedded


def _run(cmd: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


def _project_copy(pipeline: Path, repo: Path) -> None:
    """A git repository of the project's tracked files, the tiny params and finished results."""
    tracked = _run(["git", "ls-files", "-z"], ROOT).stdout.split("\0")
    keep = ("Snakefile", "dvc.yaml", ".dvc/", ".dvcignore", ".gitignore", "profiles/")
    keep += ("workflow/", "src/e2e_mammo/", "envs/")
    for name in (n for n in tracked if n.startswith(keep)):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    shutil.copy2(pipeline / "params.yaml", repo / "params.yaml")
    shutil.copytree(pipeline / "results", repo / "results", copy_function=os.link)
    shutil.copytree(pipeline / ".snakemake/metadata", repo / ".snakemake/metadata")
    _run(["git", "init", "-q"], repo)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], repo)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], repo)


@pytest.mark.slow
def test_dvc_pull_in_a_fresh_clone_leaves_nothing_to_rerun(pipeline: Path, tmp_path: Path) -> None:
    dvc = str(Path(sys.executable).with_name("dvc"))
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    _project_copy(pipeline, origin)
    _run([dvc, "commit", "--force", "--quiet"], origin)  # records dvc.lock from the finished run
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    _run([*git, "add", "dvc.lock"], origin)
    _run([*git, "commit", "-qm", "results"], origin)
    _run([dvc, "push", "--quiet"], origin)  # to the default remote beside the checkout
    assert (tmp_path / "e2e-mammo-dvc-remote/files/md5").is_dir()
    _run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    _run([dvc, "pull", "--quiet"], clone)
    assert (clone / "results/tables/table4.md").read_text() == (
        pipeline / "results/tables/table4.md"
    ).read_text()
    # the stage always runs (always_changed): Snakemake, finding everything current, runs no job
    env = dict(os.environ, PATH=f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}")
    env["TORCH_HOME"] = str(clone / "torch-home")
    repro = _run([dvc, "repro"], clone, env)
    out = repro.stdout + repro.stderr
    assert "Running stage 'pipeline'" in out and "Nothing to be done" in out
    assert _run(["git", "status", "--porcelain", "--", "dvc.lock"], clone).stdout == ""
    proc = run_snakemake(clone, "all", "-n", snakefile=clone / "Snakefile")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
    # Snakemake options reach the stage's command without editing dvc.yaml
    env["E2E_MAMMO_SNAKEMAKE_ARGS"] = "--dry-run --forcerun table1"
    out = _run([dvc, "repro"], clone, env)
    assert "rule table1" in out.stdout + out.stderr and "dry-run" in out.stdout + out.stderr


@pytest.mark.slow
def test_metrics_and_plots_travel_in_git_not_the_dvc_cache(pipeline: Path, tmp_path: Path) -> None:
    from dvc.repo import Repo

    dvc = str(Path(sys.executable).with_name("dvc"))
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    _project_copy(pipeline, origin)
    tracked = _run(["git", "ls-files", "results/metrics", "results/plots"], origin).stdout
    assert "results/metrics/table1.json" in tracked and "results/plots/roc/" in tracked
    _run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    shown = _run([dvc, "metrics", "show", "--json"], clone).stdout  # no dvc pull
    assert "results/metrics/table1.json" in shown and "test_accuracy" in shown
    with Repo(str(clone)) as repo:
        cached = {str(out.def_path): out.use_cache for out in repo.index.outs}
    assert cached["results/metrics"] is False and cached["results/plots"] is False
    assert cached["results/whole_models"] is True
