"""Table 1: test accuracy of the patch classifiers, our numbers beside the paper's.

Every configured row appears: a row that could not run (no ImageNet weights) is listed with its
status and reason, never dropped. Each row's ``result.json`` is written by the patch training job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from e2e_mammo.io import atomic_write_bytes, atomic_write_csv

COLUMNS = [
    "row",
    "model",
    "pretrained",
    "patch_set",
    "status",
    "test_accuracy",
    "paper_accuracy",
    "best_epoch",
    "paper_best_epoch",
    "epochs_trained",
    "n_train",
    "n_test",
    "note",
]
MODEL_NAMES = {"resnet50": "Resnet50", "vgg16": "VGG16"}


def table1_frame(
    results: Iterable[dict], paper: Mapping[str, Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """One line per row result (the dicts of ``result.json``) in the paper's column order,
    with the paper's published numbers (``paper[row]["paper_accuracy"]``, ...) beside ours."""
    lines = []
    paper = paper or {}
    for r in results:
        published = paper.get(r["row"], {})
        lines.append(
            {
                "row": r["row"],
                "model": MODEL_NAMES.get(r["arch"], r["arch"]),
                "pretrained": r["pretrained_label"],
                "patch_set": r["patch_set"],
                "status": r["status"],
                "test_accuracy": r.get("test_accuracy"),
                "paper_accuracy": published.get("paper_accuracy"),
                "best_epoch": r.get("best_epoch"),
                "paper_best_epoch": published.get("paper_best_epoch"),
                "epochs_trained": r.get("epochs_trained"),
                "n_train": r.get("n_train"),
                "n_test": r.get("n_test"),
                "note": r.get("note", ""),
            }
        )
    return pd.DataFrame(lines, columns=COLUMNS)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 1.5 else f"{value:g}"
    return str(value)


def table1_markdown(frame: pd.DataFrame, caption: str = "") -> str:
    """The table as GitHub Markdown (notes below the table)."""
    shown = [
        "model",
        "pretrained",
        "patch_set",
        "test_accuracy",
        "paper_accuracy",
        "best_epoch",
        "paper_best_epoch",
        "status",
    ]
    header = [
        "Model",
        "Pretrained",
        "Patch set",
        "Accuracy",
        "Paper accuracy",
        "#Epochs",
        "Paper #Epochs",
        "Status",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_cell(row[c]) for c in shown) + " |")
    notes = [f"- {row['row']}: {row['note']}" for _, row in frame.iterrows() if row["note"]]
    text = (caption + "\n\n" if caption else "") + "\n".join(lines) + "\n"
    if notes:
        text += "\nNotes:\n" + "\n".join(notes) + "\n"
    return text


CAPTION = (
    "Table 1: test accuracy of the patch classifiers (ours beside Shen et al. 2019). "
    "#Epochs is the epoch of the best validation accuracy. Our numbers come from the run "
    "configured in params.yaml (the demo: synthetic data, reduced image size and epochs), "
    "not from the paper's data and schedule; compare them with the paper's only at paper scale."
)


def write_table1(
    result_files: Iterable[str | Path],
    paper: Mapping[str, Mapping[str, Any]],
    out_csv: Path,
    out_md: Path,
) -> pd.DataFrame:
    """Read every row's ``result.json`` and write ``table1.csv`` and ``table1.md``, the
    paper's numbers (``paper``, from params.yaml) beside ours."""
    results = [json.loads(Path(p).read_text()) for p in result_files]
    frame = table1_frame(results, paper)
    atomic_write_csv(frame, out_csv)
    atomic_write_bytes(table1_markdown(frame, CAPTION).encode(), out_md)
    return frame
