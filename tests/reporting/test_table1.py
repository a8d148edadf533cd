"""Tests for Table 1 assembly from row results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from e2e_mammo.reporting.table1 import write_table1

OK = {
    "row": "resnet50-N-S10",
    "arch": "resnet50",
    "patch_set": "S10",
    "pretrained_label": "N",
    "status": "ok",
    "test_accuracy": 0.71,
    "best_epoch": 4,
    "epochs_trained": 5,
    "n_train": 100,
    "n_test": 20,
    "note": "",
}
NOT_RUN = {
    "row": "vgg16-Y-S10",
    "arch": "vgg16",
    "patch_set": "S10",
    "pretrained_label": "Y",
    "status": "not run",
    "note": "ImageNet weights not found: put vgg16-397923af.pth in /x/hub/checkpoints",
}


PAPER = {
    "resnet50-N-S10": {"paper_accuracy": 0.63, "paper_best_epoch": 24},
    "vgg16-Y-S10": {"paper_accuracy": 0.84, "paper_best_epoch": 25},
}


def _write(tmp_path: Path) -> tuple[pd.DataFrame, Path, Path]:
    files = []
    for i, result in enumerate([OK, NOT_RUN]):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(result))
        files.append(path)
    csv, md = tmp_path / "table1.csv", tmp_path / "table1.md"
    return write_table1(files, PAPER, csv, md), csv, md


def test_every_row_is_listed_including_not_run(tmp_path: Path) -> None:
    frame, csv, _ = _write(tmp_path)
    saved = pd.read_csv(csv)
    assert list(saved["row"]) == ["resnet50-N-S10", "vgg16-Y-S10"]
    assert saved.loc[1, "status"] == "not run" and pd.isna(saved.loc[1, "test_accuracy"])


def test_markdown_shows_ours_beside_paper_and_the_reason(tmp_path: Path) -> None:
    _, _, md = _write(tmp_path)
    text = md.read_text()
    assert "| Resnet50 | N | S10 | 0.710 | 0.630 | 4 | 24 | ok |" in text
    assert "vgg16-397923af.pth" in text
