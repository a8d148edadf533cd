"""Tables 2 and 3: per-image test AUC of the whole image classifiers, ours beside the paper's.

Every configured row appears: a row that did not run (not part of the demo, or failed) is listed
with its status and reason, never dropped. Each row's ``result.json`` is written by the whole
image training job; the paper's published values come from params.yaml.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from e2e_mammo.io import atomic_write_bytes, atomic_write_csv

COLUMNS = [
    "row",
    "section",
    "patch_set",
    "patch_model",
    "patch_init",
    "block1",
    "block2",
    "pool",
    "fc1",
    "fc2",
    "status",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "paper_auc",
    "a_auc",
    "a_auc_ci_low",
    "a_auc_ci_high",
    "paper_a_auc",
    "best_epoch",
    "paper_best_epoch",
    "epochs_trained",
    "n_test",
    "note",
]
CELL_KEYS = ("block1", "block2", "pool", "fc1", "fc2")
FLOAT_COLUMNS = (
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "paper_auc",
    "a_auc",
    "a_auc_ci_low",
    "a_auc_ci_high",
    "paper_a_auc",
)
INT_COLUMNS = ("best_epoch", "paper_best_epoch", "epochs_trained", "n_test")

# The sections in the paper's order and wording (Tables 2 and 3, and Sec. 3.1.4 for the last).
SECTIONS: dict[str, str] = {
    "blocks": "Two blocks on top of the patch classifier (heatmap removed)",
    "heatmap": "Insert heatmap between patch classifier and top layers",
    "fc": "Add heatmap and FC layers on top",
    "two_step": "Two-step approach (heatmap -> regional features -> random forest)",
}
_METRIC_HEADER = [
    "AUC (95% CI)",
    "paper AUC",
    "A-AUC (95% CI)",
    "paper A-AUC",
    "#Epochs",
    "paper #Epochs",
    "status/note",
]
SECTION_CELLS: dict[str, list[tuple[str, str]]] = {
    "blocks": [("block1", "Block1"), ("block2", "Block2")],
    "heatmap": [("block1", "Block1"), ("block2", "Block2")],
    "fc": [("pool", "Pool size"), ("fc1", "FC1"), ("fc2", "FC2")],
    "two_step": [],
}

HEADER = (
    "All numbers in the AUC, A-AUC and #Epochs columns are ours, computed on the data configured "
    "in params.yaml (the demo: synthetic data, small image sizes and few epochs, random-init "
    "patch classifiers), never the paper's; the paper's published values are in the 'paper' "
    "columns (NA where the paper gives none). Intervals are 95% patient-level bootstrap "
    "confidence intervals. A-AUC is the AUC of the augmented prediction (mean score over the "
    "four horizontal/vertical flips); #Epochs is the epoch of the best validation AUC."
)


def _ci(value: Any) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    low, high = value
    return low, high


def whole_table_frame(
    results: Iterable[dict], paper: Mapping[str, Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """One line per row result (the dicts of ``result.json``, kept in their order) with the
    paper's published numbers (``paper[row]["paper_auc"]``, ...) beside ours. The confidence
    intervals are split into ``*_ci_low``/``*_ci_high``; rows that did not run have no numbers."""
    paper = paper or {}
    lines = []
    for r in results:
        published = paper.get(r["row"]) or {}
        cells = r.get("cells") or {}
        auc_low, auc_high = _ci(r.get("test_auc_ci"))
        a_low, a_high = _ci(r.get("test_a_auc_ci"))
        line = {
            "row": r["row"],
            "section": r.get("section", ""),
            "patch_set": r.get("patch_set"),
            "patch_model": r.get("patch_model"),
            "patch_init": r.get("patch_init"),
            **{key: cells.get(key) for key in CELL_KEYS},
            "status": r.get("status", ""),
            "auc": r.get("test_auc"),
            "auc_ci_low": auc_low,
            "auc_ci_high": auc_high,
            "paper_auc": published.get("paper_auc"),
            "a_auc": r.get("test_a_auc"),
            "a_auc_ci_low": a_low,
            "a_auc_ci_high": a_high,
            "paper_a_auc": published.get("paper_a_auc"),
            "best_epoch": r.get("best_epoch"),
            "paper_best_epoch": published.get("paper_best_epoch"),
            "epochs_trained": r.get("epochs_trained"),
            "n_test": r.get("n_test"),
            "note": r.get("note") or "",
        }
        lines.append(line)
    frame = pd.DataFrame(lines, columns=COLUMNS)
    for column in FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    return frame


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: Any, missing: str = "-") -> str:
    if _missing(value) or value == "":
        return missing
    return str(value).replace("|", "\\|").replace("\n", " ")


def _published(value: Any) -> str:
    """A paper value as published (two decimals), ``NA`` where the paper gives none."""
    return "NA" if _missing(value) else f"{float(value):.2f}"


def _integer(value: Any, missing: str = "-") -> str:
    return missing if _missing(value) else str(int(value))


def _with_ci(value: Any, low: Any, high: Any) -> str:
    if _missing(value):
        return "-"
    if _missing(low) or _missing(high):
        return f"{float(value):.3f}"
    return f"{float(value):.3f} ({float(low):.3f}-{float(high):.3f})"


def _status_note(row: pd.Series) -> str:
    status, note = _text(row["status"], ""), _text(row["note"], "")
    return f"{status}: {note}" if status and note else status or note or "-"


def _patch_classifier(row: pd.Series) -> str:
    model, init = _text(row["patch_model"], "?"), _text(row["patch_init"], "")
    return f"{model} ({init})" if init else model


def _section_markdown(rows: pd.DataFrame, section: str) -> str:
    cells = SECTION_CELLS.get(section, [("block1", "Block1"), ("block2", "Block2")])
    classifiers = list(dict.fromkeys(_patch_classifier(row) for _, row in rows.iterrows()))
    per_row = len(classifiers) > 1
    header = ["Patch set"] + (["Patch classifier"] if per_row else []) + [h for _, h in cells]
    header += _METRIC_HEADER
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in rows.iterrows():
        ran = row["status"] == "ok"
        auc = _with_ci(row["auc"], row["auc_ci_low"], row["auc_ci_high"])
        a_auc = _with_ci(row["a_auc"], row["a_auc_ci_low"], row["a_auc_ci_high"])
        values = [_text(row["patch_set"])]
        values += [_patch_classifier(row)] if per_row else []
        values += [_text(row[key]) for key, _ in cells]
        values += [
            auc if ran else _text(row["status"]),
            _published(row["paper_auc"]),
            a_auc if ran else "-",
            _published(row["paper_a_auc"]),
            _integer(row["best_epoch"]),
            _integer(row["paper_best_epoch"], "NA"),
            _status_note(row),
        ]
        lines.append("| " + " | ".join(values) + " |")
    title = SECTIONS.get(section, section or "(no section)")
    text = f"### {title}\n\n"
    if not per_row:
        text += f"Patch classifier: {classifiers[0]}\n\n"
    return text + "\n".join(lines) + "\n"


def whole_table_markdown(frame: pd.DataFrame, title: str) -> str:
    """The table as GitHub Markdown: one sub-table per section in the paper's order (sections
    the paper does not know follow, so no row is ever dropped); the patch classifier used is
    stated per section (or given per row where a section mixes several)."""
    known = [s for s in SECTIONS if (frame["section"] == s).any()]
    others = [s for s in dict.fromkeys(frame["section"]) if s not in SECTIONS]
    parts = [f"## {title}\n\n{HEADER}\n"]
    for section in known + others:
        parts.append(_section_markdown(frame[frame["section"] == section], section))
    if frame.empty:
        parts.append("(no rows configured)\n")
    return "\n".join(parts)


def write_whole_table(
    result_files: Iterable[str | Path],
    paper: Mapping[str, Mapping[str, Any]] | None,
    csv: Path,
    md: Path,
    title: str,
) -> pd.DataFrame:
    """Read every row's ``result.json`` and write the table as CSV and Markdown (atomically),
    the paper's numbers (``paper``, from params.yaml) beside ours; return the frame."""
    results = [json.loads(Path(p).read_text()) for p in result_files]
    frame = whole_table_frame(results, paper)
    atomic_write_csv(frame, csv)
    atomic_write_bytes(whole_table_markdown(frame, title).encode(), md)
    return frame
