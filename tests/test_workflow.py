"""The real Snakemake DAG, end to end, on a tiny synthetic configuration."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = copy.deepcopy(params)
    tiny["data"]["cbis_ddsm"]["synthetic"].update(n_patients=8, image_size=[200, 128])
    tiny["data"]["inbreast"]["synthetic"].update(n_patients=6, image_size=[200, 160])
    tiny["convert"]["size"] = [192, 144]
    tiny["patch_training"]["epoch_scale"] = 0.01
    tiny["patch_training"]["batch_size"] = 16
    return tiny


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), *args, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--cores", "2", "--resources", "gpu=1"]
    env = dict(os.environ, TORCH_HOME=str(workdir / "torch-home"))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("pipeline")
    (workdir / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    proc = run_snakemake(workdir, "all")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


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


@pytest.mark.slow
def test_dag_is_up_to_date_after_run(pipeline: Path) -> None:
    proc = run_snakemake(pipeline, "all", "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_param_change_reruns_only_downstream(pipeline: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "copy"
    shutil.copytree(pipeline, workdir, symlinks=True)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["split"]["seed"] = 99
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_snakemake(workdir, "all", "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "split_dataset" in out
    assert "convert_dataset" not in out and "synth_dataset" not in out


@pytest.mark.slow
def test_published_number_change_reruns_only_the_table(pipeline: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "copy"
    shutil.copytree(pipeline, workdir, symlinks=True)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    for row in params["table1"]:  # trained rows and rows recorded as not run
        row["paper_accuracy"], row["paper_best_epoch"] = 0.5, 1
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_snakemake(workdir, "all", "-n")
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
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{pipeline / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("e2e-mammo")
    runs = {r.data.tags["row"]: r for r in client.search_runs([experiment.experiment_id])}
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    assert sorted(runs) == sorted(r["row"] for r in params["table1"])
    for row in ("resnet50-N-S1", "resnet50-N-S10"):
        run = runs[row]
        assert run.data.tags["table"] == "1" and run.data.tags["status"] == "ok"
        assert "test_accuracy" in run.data.metrics
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == list(range(1, len(history) + 1))
    assert runs["vgg16-Y-S10"].data.tags["status"] == "not run"
    assert "vgg16-397923af.pth" in runs["vgg16-Y-S10"].data.params["note"]
