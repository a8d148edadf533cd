"""The claims stage: result files in, CSV and Markdown out, one MLflow run."""

import json

import numpy as np
import pandas as pd

from e2e_mammo.plan.evaluations import ClaimSettings, paper_numbers, paper_table4_aucs
from e2e_mammo.reporting.claims import COLUMNS
from e2e_mammo.reporting.claims_stage import ClaimInputs, write_claims


def _write(folder, result, predictions=None):
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(result))
    if predictions is not None:
        predictions.to_csv(folder / "predictions.csv", index=False)
    return folder / "result.json"


def _preds(split, score_seed, n=30):
    rng = np.random.default_rng(score_seed)
    labels = np.repeat(np.arange(n // 2) % 2, 2)
    frame = pd.DataFrame(
        {
            "split": split,
            "image_id": [f"{split}{i}" for i in range(n)],
            "patient_id": [f"P{i // 2}" for i in range(n)],
            "label": labels,
            "prob_malignant": labels * 0.5 + rng.uniform(0, 0.6, n),
        }
    )
    frame["tta_prob_malignant"] = frame["prob_malignant"]
    return frame


def test_files_are_written_with_the_columns_in_order_and_missing_rows_not_run(tmp_path, store):
    row = {"table": 2, "arch": "resnet50", "section": "blocks", "val_a_auc": 0.7}
    rows = [
        _write(
            tmp_path / "w/r50-s10-res2048x1", {**row, "row": "r50-s10-res2048x1"}, _preds("test", 0)
        ),
        _write(
            tmp_path / "w/r50-s1-res2048x1",
            {**row, "row": "r50-s1-res2048x1", "status": "not in demo", "note": "the switch"},
        ),
    ]
    cell = {"row": "m", "arch": "resnet50", "top": {"type": "vgg"}, "init": "whole_image"}
    cells = [
        _write(
            tmp_path / f"t/n{s}", {**cell, "size": s, "seed": 1, "status": "ok"}, _preds("val", s)
        )
        for s in (20, 40)
    ]
    table2 = [{"row": "r50-s10-res2048x1", "paper_auc": 0.85, "paper_a_auc": 0.87}]
    inputs = ClaimInputs(rows, paper_numbers(table2), cell_results=cells)
    table4 = [{"size": 20, "paper_auc": {"Resnet-VGG": 0.88}}, {"size": 40, "paper_auc": {}}]
    settings = ClaimSettings(n_boot=50, sizes=[20, 40], paper_table4=paper_table4_aucs(table4))
    csv, md = tmp_path / "out/claims.csv", tmp_path / "out/claims.md"
    frame = write_claims(inputs, settings, csv, md, store)

    saved = pd.read_csv(csv)
    assert list(saved.columns) == COLUMNS and len(saved) == len(frame)
    first = saved.iloc[0]
    assert first["verdict"] == "not run" and "r50-s1-res2048x1" in first["note"]
    assert first["paper"] == "0.85 vs -"
    assert saved["claim"].str.startswith("8b.").any()
    assert md.read_text().startswith("# The paper's claims, computed")

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store.uri)
    (run,) = client.search_runs([client.get_experiment_by_name(store.experiment).experiment_id])
    assert run.info.run_name == "claims" and run.data.tags["stage"] == "claims"
    assert run.data.params["n_boot"] == "50" and run.data.tags["claim01_verdict"] == "not run"
    finite = saved["difference"].notna()
    assert {f"claim{i + 1:02d}_difference" for i in saved.index[finite]} == set(run.data.metrics)
