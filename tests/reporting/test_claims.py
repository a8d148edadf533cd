"""The paper's claims as paired comparisons, on constructed predictions with known truth."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from e2e_mammo.plan.evaluations import ClaimSettings
from e2e_mammo.reporting.claims import (
    COLUMNS,
    EnsembleResult,
    RowResult,
    TransferCell,
    claims_frame,
    claims_markdown,
)

SETTINGS = ClaimSettings(
    n_boot=200,
    seed=0,
    sizes=(20, 40, "all"),
    paper_table4={"20": {"Resnet-VGG": 0.88}, "40": {"Resnet-VGG": 0.95}},
    not_run_switch="the switch",
    paper_ensemble_auc=0.91,
)


def _scores(kind: str, labels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "perfect":
        return labels * 0.5 + rng.uniform(0, 0.4, len(labels))
    return rng.uniform(0, 1, len(labels))


def _preds(test="noise", val="noise", tta=None, splits=("val", "test"), seed=0, n=40):
    """Predictions of ``n`` images (two per patient, one label per patient) per split."""
    parts = []
    for split in splits:
        labels = np.repeat(np.arange(n // 2) % 2, 2)
        kind = test if split == "test" else val
        part = pd.DataFrame(
            {
                "split": split,
                "image_id": [f"{split}{i}" for i in range(n)],
                "patient_id": [f"P{split}{i // 2}" for i in range(n)],
                "label": labels,
                "prob_malignant": _scores(kind, labels, seed),
            }
        )
        part["tta_prob_malignant"] = _scores(tta or kind, labels, seed + 100)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _row(name, predictions=None, *, table=2, arch="resnet50", section="blocks", **fields):
    fields.setdefault("val_a_auc", 0.7)
    fields.setdefault("paper_auc", 0.8)
    return RowResult(name, table, arch, section, predictions=predictions, **fields)


def _frame(rows, ensemble=None, cells=(), settings=SETTINGS):
    return claims_frame(rows, ensemble, list(cells), settings)


def _claim(frame, number):
    return frame[frame["claim"].str.startswith(f"{number}. ")]


def test_columns_and_claims_in_the_papers_order():
    frame = _frame([])
    assert list(frame.columns) == COLUMNS
    numbers = [c.split(".")[0] for c in frame["claim"]]
    assert numbers == ["1", "2", "3", "4", "5", "6", "6", "7", "8a", "8b"]
    assert set(frame["verdict"]) == {"not run"}


def test_exact_tie_cannot_tell():
    same = _preds(test="perfect")
    frame = _frame([_row("r50-s10-res2048x1", same), _row("r50-s1-res2048x1", same.copy())])
    row = _claim(frame, 1).iloc[0]
    assert row["difference"] == 0 and row["ci_low"] == 0 and row["ci_high"] == 0
    assert row["verdict"] == "cannot tell"


def test_clear_gain_holds_and_clear_loss_is_contradicted():
    good, bad = _preds(test="perfect"), _preds(test="noise")
    paper = {"paper_auc": 0.85}
    gain = _frame([_row("r50-s10-res2048x1", good, **paper), _row("r50-s1-res2048x1", bad)])
    row = _claim(gain, 1).iloc[0]
    expected = roc_auc_score(good.label[40:], good.prob_malignant[40:]) - roc_auc_score(
        bad.label[40:], bad.prob_malignant[40:]
    )
    assert row["verdict"] == "holds" and row["difference"] == pytest.approx(expected)
    assert row["paper"] == "0.85 vs 0.80" and row["split"] == "test"
    assert row["n_images"] == 40 and row["n_patients"] == 20
    loss = _frame([_row("r50-s10-res2048x1", bad), _row("r50-s1-res2048x1", good)])
    assert _claim(loss, 1).iloc[0]["verdict"] == "contradicted"


def test_missing_row_is_not_run_and_named():
    rows = [
        _row("r50-s10-res1024x2", _preds()),
        _row("r50-s10-hm-res1024x2", status="not in demo", note="not trained; the switch"),
    ]
    row = _claim(_frame(rows), 5).iloc[0]
    assert row["verdict"] == "not run" and np.isnan(row["difference"])
    assert "r50-s10-hm-res1024x2 did not train (not in demo)" in row["note"]
    assert "the switch" in row["note"]


def test_claim2_chooses_the_end_to_end_row_on_validation():
    rows = [
        _row("best-on-val", _preds(test="noise"), val_a_auc=0.9),
        _row("best-on-test", _preds(test="perfect"), val_a_auc=0.5, paper_auc=0.87),
        _row("hm", _preds(test="perfect"), section="heatmap", val_a_auc=None),
        _row("r50-s10-two-step", _preds(test="noise", seed=3), section="two_step", paper_auc=0.73),
    ]
    row = _claim(_frame(rows), 2).iloc[0]
    assert row["compared"].startswith("best-on-val vs r50-s10-two-step")
    assert row["paper"] == "0.87 vs 0.73" and "validation A-AUC" in row["note"]


def test_ensemble_claim_picks_the_best_member_on_validation():
    members = [
        _row("m-val", _preds(tta="noise"), val_a_auc=0.9, paper_a_auc=0.88),
        _row("m-test", _preds(tta="perfect"), val_a_auc=0.6),
    ]
    ensemble_preds = _preds(test="perfect").rename(columns={"prob_malignant": "score"})
    frame = _frame(members, EnsembleResult(("m-val", "m-test"), ensemble_preds))
    row = _claim(frame, 4).iloc[0]
    assert "vs m-val (its member with the best validation A-AUC)" in row["compared"]
    assert row["paper"] == "0.91 vs 0.88" and row["verdict"] == "holds"


def test_augmented_prediction_per_row_and_pooled():
    rows = [
        _row("a", _preds(test="noise", tta="perfect"), paper_a_auc=0.87, paper_auc=0.85),
        _row("b", _preds(test="noise", tta="perfect", seed=1), table=3, arch="vgg16"),
    ]
    claim3 = _claim(_frame(rows), 3)
    assert len(claim3) == 3 and set(claim3["verdict"]) == {"holds"}
    assert claim3.iloc[0]["paper"] == "0.87 vs 0.85" and claim3.iloc[1]["paper"] == "- vs 0.80"
    pooled = claim3.iloc[2]
    assert pooled["compared"].startswith("2 end-to-end rows pooled")
    assert pooled["difference"] == pytest.approx(claim3.iloc[:2]["difference"].mean())
    assert "A AUCs: a " in pooled["note"] and pooled["paper"] == "0.870 vs 0.850 (mean of 1)"


def test_pairing_uses_shared_images_and_fails_when_labels_disagree():
    full = _preds(test="perfect")
    part = full[full["image_id"] != "test0"]
    frame = _frame([_row("r50-s10-res2048x1", full), _row("r50-s1-res2048x1", part)])
    assert _claim(frame, 1).iloc[0]["n_images"] == 39
    flipped = full.copy()
    flipped.loc[flipped["image_id"] == "test3", "label"] = 0
    with pytest.raises(ValueError, match="labels disagree"):
        _frame([_row("r50-s10-res2048x1", full), _row("r50-s1-res2048x1", flipped)])


def _cell(init, size, seed, kind, model="r50-vgg"):
    preds = _preds(val=kind, splits=("val",), seed=seed + int(size))
    return TransferCell(init, model, "Resnet-VGG", size, seed, predictions=preds)


def test_inbreast_claims_list_every_seeds_auc():
    cells = [
        _cell(init, size, seed, kind)
        for size in ("20", "40")
        for seed in (1, 2)
        for init, kind in (("whole_image", "perfect"), ("patch_only", "noise"))
    ]
    frame = _frame([], cells=cells)
    transfer = _claim(frame, "8a")
    assert list(transfer["compared"].str.extract(r"n=(\d+)")[0]) == ["20", "40"]
    first = transfer.iloc[0]
    assert first["verdict"] == "holds" and first["split"] == "val"
    for cell in cells[:4]:  # the n=20 cells
        preds = cell.predictions
        auc = roc_auc_score(preds["label"], preds["prob_malignant"])
        assert f"seed {cell.seed} {auc:.3f}" in first["note"]
    assert first["paper"].startswith("0.88 vs -")
    sizes = _claim(frame, "8b").iloc[0]
    assert sizes["compared"].startswith("n=40 vs n=20")
    assert sizes["paper"] == "0.950 vs 0.880 (mean of 1)"
    assert "r50-vgg s1" in sizes["note"] and "r50-vgg s2" in sizes["note"]


def test_one_size_is_not_enough_for_the_size_claim():
    frame = _frame([], cells=[_cell("whole_image", "20", 1, "perfect")])
    row = _claim(frame, "8b").iloc[0]
    assert row["verdict"] == "not run" and "ran: 20" in row["note"]


def test_markdown_states_what_the_numbers_are():
    same = _preds(test="perfect")
    frame = _frame([_row("r50-s10-res2048x1", same), _row("r50-s1-res2048x1", same.copy())])
    md = claims_markdown(frame, SETTINGS)
    assert md.startswith("# The paper's claims, computed")
    assert "never the paper's" in md and "200 resamples of patients, seed 0" in md
    assert "+0.000 [+0.000, +0.000]" in md and "**cannot tell**" in md
    assert "| 40 (20) |" in md
