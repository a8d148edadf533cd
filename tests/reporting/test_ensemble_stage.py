import json

import numpy as np
import pandas as pd
import pytest

from e2e_mammo.plan.evaluations import EnsembleSettings
from e2e_mammo.reporting.ensemble_stage import (
    ENSEMBLE_COLUMNS,
    EnsembleOutputs,
    family_candidates,
    run_ensemble,
    write_ensemble_table,
)

FAMILIES = ["Resnet-Resnet", "Resnet-VGG", "VGG-VGG", "VGG-Resnet"]


def _row(folder, name, val_a_auc, noise, section="blocks", status="ok", family="Resnet-Resnet"):
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    out = folder / name
    out.mkdir()
    rows = []
    for split, n in (("val", 20), ("test", 30)):
        label = np.tile([0, 1], n // 2)
        score = np.clip(label * 0.3 + 0.35 + rng.normal(0, noise, n), 0, 1)
        for i in range(n):
            rows.append((split, f"{split}{i}", f"P{split}{i // 2}", label[i], score[i]))
    frame = pd.DataFrame(rows, columns=["split", "image_id", "patient_id", "label", "s"])
    frame["tta_prob_malignant"] = frame.pop("s")
    frame.to_csv(out / "predictions.csv", index=False)
    result = {"row": name, "status": status, "section": section, "val_a_auc": val_a_auc}
    result["family"] = family if section == "blocks" else None
    (out / "result.json").write_text(json.dumps(result))
    return out / "result.json"


def test_candidates_are_trained_rows_with_their_family():
    top = {"type": "vgg", "blocks": [[256, 1]]}
    results = [
        {"row": "a", "status": "ok", "section": "blocks", "val_a_auc": 0.7},
        {"row": "b", "status": "ok", "section": "two_step", "val_a_auc": 0.9},
        {"row": "c", "status": "not in demo", "section": "blocks"},
        {"row": "d", "status": "ok", "section": "fc", "val_a_auc": None},
        {"row": "e", "status": "ok", "arch": "resnet50", "top": top, "val_a_auc": 0.6},
    ]
    scores = family_candidates(results)
    assert set(scores) == {"a", "b", "d", "e"}
    assert scores["b"][0] is None and scores["d"][0] is None and np.isnan(scores["d"][1])
    assert scores["e"] == ("Resnet-VGG", 0.6)


@pytest.fixture()
def ensemble(tmp_path, store):
    files = [
        _row(tmp_path, "best", 0.9, 0.2),
        _row(tmp_path, "good", 0.8, 0.2, family="Resnet-VGG"),
        _row(tmp_path, "fair", 0.7, 0.25, family="VGG-VGG"),
        _row(tmp_path, "weak", 0.6, 0.3, family="VGG-Resnet"),
        _row(tmp_path, "worst", 0.5, 0.3, family="VGG-Resnet"),
        _row(tmp_path, "second", 0.85, 0.3),
        _row(tmp_path, "rf", 0.99, 0.1, section="two_step"),
        _row(tmp_path, "hm", 0.95, 0.1, section="heatmap"),
    ]
    out = tmp_path / "ens"
    summary = run_ensemble(
        files,
        EnsembleSettings(
            dataset="cbis-ddsm", families=FAMILIES, bootstrap={"n_boot": 50, "seed": 0}
        ),
        EnsembleOutputs(out_dir=out),
        store,
    )
    return out, summary


def test_members_are_each_familys_best_on_validation(ensemble):
    _, summary = ensemble
    assert summary["members"] == "best;good;fair;weak"
    assert summary["families"] == "Resnet-Resnet;Resnet-VGG;VGG-VGG;VGG-Resnet"


def test_a_missing_family_is_named_in_the_note(tmp_path, store):
    files = [_row(tmp_path, "a", 0.9, 0.2), _row(tmp_path, "b", 0.8, 0.2, family="VGG-VGG")]
    summary = run_ensemble(
        files,
        EnsembleSettings(
            dataset="cbis-ddsm", families=FAMILIES, bootstrap={"n_boot": 20, "seed": 0}
        ),
        EnsembleOutputs(out_dir=tmp_path / "ens"),
        store,
    )
    assert summary["members"] == "a;b"
    assert "no trained row of Resnet-VGG, VGG-Resnet" in summary["note"]


def test_summary_and_predictions_written(ensemble):
    out, summary = ensemble
    saved = json.loads((out / "summary.json").read_text())
    assert list(saved) == list(ENSEMBLE_COLUMNS)
    assert saved["ci_low"] <= saved["auc"] <= saved["ci_high"]
    assert 0 <= saved["sensitivity"] <= 1 and saved["threshold_split"] == "val"
    averaged = pd.read_csv(out / "predictions.csv")
    assert {"score", "score_best", "score_weak"} <= set(averaged.columns)
    assert (out / "roc.png").stat().st_size > 0


def test_ensemble_table_has_one_row_per_dataset(ensemble, tmp_path):
    out, _ = ensemble
    frame = write_ensemble_table([out / "summary.json"], tmp_path / "ensemble.csv")
    assert list(frame.columns) == list(ENSEMBLE_COLUMNS) and len(frame) == 1
    assert frame.loc[0, "dataset"] == "cbis-ddsm"


def test_fixed_members_are_all_given_models_in_order(tmp_path, store):
    files = [_row(tmp_path, "weak", 0.6, 0.3), _row(tmp_path, "best", 0.9, 0.2)]
    summary = run_ensemble(
        files,
        EnsembleSettings(
            dataset="inbreast",
            families=None,
            bootstrap={"n_boot": 50, "seed": 0},
            eval_split="val",
            threshold=0.5,
        ),
        EnsembleOutputs(out_dir=tmp_path / "ens"),
        store,
    )
    assert summary["members"] == "weak;best"
    assert summary["threshold"] == 0.5 and summary["threshold_split"] == "fixed"
    assert summary["eval_split"] == "val"


def test_members_read_back_from_the_summary_best_first(ensemble):
    from e2e_mammo.plan.members import read_members

    out, _ = ensemble
    assert read_members(out / "summary.json") == ["best", "good", "fair", "weak"]


def test_members_runs_are_children_of_the_ensembles_run(ensemble, store):
    from mlflow.tracking import MlflowClient

    from e2e_mammo.tracking import PARENT_TAG

    client = MlflowClient(tracking_uri=store.uri)
    runs = client.search_runs([client.get_experiment_by_name(store.experiment).experiment_id])
    (parent,) = [r for r in runs if r.data.tags["stage"] == "ensemble"]
    children = [r for r in runs if r.data.tags["stage"] == "ensemble_member"]
    assert sorted(r.data.tags["row"] for r in children) == ["best", "fair", "good", "weak"]
    assert {r.data.tags[PARENT_TAG] for r in children} == {parent.info.run_id}
    expected = {"a_auc", "a_auc_ci_low", "a_auc_ci_high"}
    assert all(set(r.data.metrics) == expected for r in children)


def test_roc_points_of_the_ensemble_are_written_when_asked(tmp_path, store):
    files = [_row(tmp_path, n, v, 0.2) for n, v in (("a", 0.9), ("b", 0.8))]
    points = tmp_path / "roc.csv"
    run_ensemble(
        files,
        EnsembleSettings(
            dataset="cbis-ddsm", families=["Resnet-Resnet"], bootstrap={"n_boot": 20, "seed": 0}
        ),
        EnsembleOutputs(out_dir=tmp_path / "ens", roc_points_csv=points),
        store,
    )
    frame = pd.read_csv(points)
    assert list(frame.columns) == ["fpr", "tpr", "threshold"]
    assert frame["fpr"].iloc[-1] == 1.0 and frame["tpr"].iloc[-1] == 1.0
