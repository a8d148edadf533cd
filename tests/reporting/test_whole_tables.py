"""Tests for Tables 2/3 assembly from whole image classifier results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from e2e_mammo.reporting.whole_tables import (
    COLUMNS,
    SECTIONS,
    whole_table_frame,
    whole_table_markdown,
    write_whole_table,
)

PATCH = {"arch": "resnet50", "patch_set": "S10", "table": 2, "patch_model": "resnet50-N-S10"}
INIT = {"patch_init": "random init (paper: ImageNet)"}
BLOCKS = {
    **PATCH,
    **INIT,
    "row": "r50-s10-res1024x2",
    "section": "blocks",
    "cells": {"block1": "[512-512-1024] x 2", "block2": "[512-512-1024] x 2"},
    "status": "ok",
    "note": "",
    "test_auc": 0.712,
    "test_auc_ci": [0.601, 0.804],
    "test_a_auc": 0.73,
    "test_a_auc_ci": [0.62, 0.83],
    "val_auc": 0.7,
    "best_epoch": 5,
    "epochs_trained": 8,
    "n_train": 120,
    "n_val": 20,
    "n_test": 70,
}
HEATMAP = {
    **PATCH,
    **INIT,
    "row": "r50-s10-heatmap-res1024x2",
    "section": "heatmap",
    "cells": {"block1": "[512-512-1024] x 2", "block2": "[512-512-1024] x 2"},
    "status": "not in demo",
    "note": "too slow for the demo budget",
}
FC = {
    **BLOCKS,
    "row": "r50-s10-fc-5x5",
    "section": "fc",
    "cells": {"pool": "5x5", "fc1": "64", "fc2": "32"},
    "test_a_auc": None,
    "test_a_auc_ci": None,
}
TWO_STEP = {**BLOCKS, "row": "r50-s10-two-step", "section": "two_step", "cells": {}}
PAPER = {
    "r50-s10-res1024x2": {"paper_auc": 0.85, "paper_a_auc": 0.87, "paper_best_epoch": 34},
    "r50-s10-heatmap-res1024x2": {"paper_auc": 0.80, "paper_a_auc": None, "paper_best_epoch": 47},
    "r50-s10-fc-5x5": {"paper_auc": 0.73, "paper_a_auc": None, "paper_best_epoch": 28},
}
# Deliberately not in the paper's order: the frame keeps it, the Markdown sorts sections.
RESULTS = [TWO_STEP, FC, HEATMAP, BLOCKS]


def test_frame_keeps_every_row_in_order_with_the_columns() -> None:
    frame = whole_table_frame(RESULTS, PAPER)
    assert list(frame.columns) == COLUMNS
    assert list(frame["row"]) == [r["row"] for r in RESULTS]


def test_frame_puts_paper_values_beside_ours() -> None:
    frame = whole_table_frame(RESULTS, PAPER).set_index("row")
    ours = frame.loc["r50-s10-res1024x2"]
    assert (ours["auc"], ours["paper_auc"]) == (0.712, 0.85)
    assert (ours["best_epoch"], ours["paper_best_epoch"]) == (5, 34)
    assert pd.isna(frame.loc["r50-s10-fc-5x5", "paper_a_auc"])
    assert pd.isna(frame.loc["r50-s10-two-step", "paper_auc"])  # no paper values given


def test_frame_not_run_row_has_status_and_note_but_no_numbers() -> None:
    row = whole_table_frame(RESULTS, PAPER).set_index("row").loc["r50-s10-heatmap-res1024x2"]
    assert (row["status"], row["note"]) == ("not in demo", "too slow for the demo budget")
    ours = ["auc", "auc_ci_low", "auc_ci_high", "a_auc", "best_epoch", "epochs_trained", "n_test"]
    assert all(pd.isna(row[c]) for c in ours)


def test_frame_splits_the_ci_into_two_columns() -> None:
    row = whole_table_frame([BLOCKS]).iloc[0]
    assert (row["auc_ci_low"], row["auc_ci_high"]) == (0.601, 0.804)
    assert (row["a_auc_ci_low"], row["a_auc_ci_high"]) == (0.62, 0.83)
    assert row["block1"] == "[512-512-1024] x 2" and pd.isna(row["pool"])


def test_markdown_has_the_four_sections_in_the_papers_order() -> None:
    text = whole_table_markdown(whole_table_frame(RESULTS, PAPER), "Table 2")
    positions = [text.index(f"### {title}") for title in SECTIONS.values()]
    assert positions == sorted(positions)
    assert "| Patch set | Pool size | FC1 | FC2 | AUC (95% CI) |" in text


def test_markdown_formats_ci_and_shows_paper_na() -> None:
    text = whole_table_markdown(whole_table_frame(RESULTS, PAPER), "Table 2")
    line = next(ln for ln in text.splitlines() if ln.startswith("| S10 | 5x5 |"))
    assert "| 0.712 (0.601-0.804) | 0.73 | - | NA | 5 | 28 |" in line


def test_markdown_not_in_demo_row_shows_status_and_reason() -> None:
    text = whole_table_markdown(whole_table_frame(RESULTS, PAPER), "Table 2")
    heatmap = text.split("### Insert heatmap")[1].split("###")[0]
    assert "| not in demo | 0.80 | - | NA | - | 47 | not in demo: too slow" in heatmap


def test_markdown_states_whose_numbers_and_the_patch_classifier() -> None:
    text = whole_table_markdown(whole_table_frame(RESULTS, PAPER), "Table 2")
    assert "never the paper's" in text and "95% patient-level bootstrap" in text
    assert "Patch classifier: resnet50-N-S10 (random init (paper: ImageNet))" in text


def test_write_whole_table_writes_csv_and_markdown(tmp_path: Path) -> None:
    files = []
    for i, result in enumerate(RESULTS):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(result))
    csv, md = tmp_path / "out" / "table2.csv", tmp_path / "out" / "table2.md"
    frame = write_whole_table(files, PAPER, csv, md, "Table 2: whole image classifiers")
    saved = pd.read_csv(csv)
    assert list(saved["row"]) == list(frame["row"]) and list(saved.columns) == COLUMNS
    assert md.read_text().startswith("## Table 2: whole image classifiers")
