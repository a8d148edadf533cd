"""Table 4: transfer-learning efficiency on INbreast, ours beside the paper's, and its plot.

One row of the table per training-subset size: our patients and images (the paper's beside
them), then one column per paper family (Resnet-Resnet, Resnet-VGG, VGG-VGG, VGG-Resnet, as
Table 4 names them; each names the row that fills it, ``not run`` where none was fine-tuned)
with its validation AUC with the 95% patient-level bootstrap
interval (the mean and spread over seeds when several ran), the control (the same architecture
fine-tuned from its patch classifier alone) and the paper's four values. A size the
configuration did not train is listed as ``not in demo`` with the switch that trains it, never
dropped. The CSV is long: one line per size, model, start and seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from e2e_mammo.io import atomic_write_bytes, atomic_write_csv
from e2e_mammo.plan.tops import PAPER_FAMILIES as PAPER_MODELS
from e2e_mammo.plan.tops import paper_family as paper_model
from e2e_mammo.plan.transfer_cells import size_label

COLUMNS = [
    "size",
    "init",
    "model",
    "paper_model",
    "seed",
    "status",
    "n_patients",
    "n_images",
    "select",
    "auc",
    "ci_low",
    "ci_high",
    "a_auc",
    "paper_patients",
    "paper_images",
    "paper_auc",
    "note",
]
HEADER = (
    "Per-image AUC on the INbreast validation set (the paper's 30% of patients) after "
    "fine-tuning on a subset of the training patients, with image labels only. The numbers in "
    "the model columns are ours, computed on the data configured in params.yaml (the demo: a "
    "synthetic INbreast, small images, few epochs), never the paper's; the paper's are in the "
    "'paper' columns. Intervals are 95% patient-level bootstrap intervals."
)
#: What the table says of the epochs it reports (the cells' ``select``).
SELECTION_TEXT = {
    "last": "Each cell reports its last epoch: nothing was chosen on the validation set.",
    "inner_val": (
        "Each cell reports the epoch with the best AUC on an inner validation split of its own "
        "training patients: nothing was chosen on the validation set."
    ),
}


def _cell_row(result: Mapping[str, Any], paper: Mapping[str, Any]) -> dict[str, Any]:
    name = paper_model(result.get("arch", ""), result.get("top") or {})
    published = paper.get(size_label(result["size"]), {})
    return {
        "size": size_label(result["size"]),
        "init": result["init"],
        "model": result["row"],
        "paper_model": name,
        "seed": result["seed"],
        "status": result.get("status", "ok"),
        "n_patients": result.get("n_patients"),
        "n_images": result.get("n_images"),
        "select": result.get("select"),
        "auc": result.get("val_auc"),
        "ci_low": result.get("val_auc_ci_low"),
        "ci_high": result.get("val_auc_ci_high"),
        "a_auc": result.get("val_a_auc"),
        "paper_patients": published.get("paper_patients"),
        "paper_images": published.get("paper_images"),
        "paper_auc": (published.get("paper_auc") or {}).get(name) if name else None,
        "note": result.get("note", ""),
    }


def table4_frame(
    results: Iterable[Mapping[str, Any]],
    sizes: Sequence[int | str],
    paper: Mapping[str, Mapping[str, Any]],
    not_run_note: str,
) -> pd.DataFrame:
    """The long table: every cell that ran, and one ``not in demo`` line per size that did not.

    ``paper`` maps a size label to ``paper_patients``, ``paper_images`` and ``paper_auc`` (by
    paper model name); ``not_run_note`` is what a size that did not train says.
    """
    rows = [_cell_row(r, paper) for r in results]
    ran = {r["size"] for r in rows}
    for size in (size_label(s) for s in sizes):
        if size not in ran:
            published = paper.get(size, {})
            rows.append(
                {
                    "size": size,
                    "status": "not in demo",
                    "paper_patients": published.get("paper_patients"),
                    "paper_images": published.get("paper_images"),
                    "note": not_run_note,
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = {size_label(s): i for i, s in enumerate(sizes)}
    frame["_order"] = frame["size"].map(order)
    keys = ["_order", "init", "model", "seed"]
    frame = frame.sort_values(keys, kind="stable", na_position="first")
    return frame.drop(columns="_order").reset_index(drop=True)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _auc_cell(cells: pd.DataFrame) -> str:
    ok = cells[(cells["status"] == "ok") & cells["auc"].notna()]
    if ok.empty:
        return "-" if cells.empty else str(cells["status"].iloc[0])
    if len(ok) == 1:
        row = ok.iloc[0]
        if _missing(row["ci_low"]) or _missing(row["ci_high"]):
            return f"{row['auc']:.3f}"
        return f"{row['auc']:.3f} ({row['ci_low']:.3f}-{row['ci_high']:.3f})"
    aucs = ok["auc"].astype(float)
    return f"{aucs.mean():.3f} ± {aucs.std(ddof=1):.3f} ({len(ok)} seeds)"


def _count_cell(cells: pd.DataFrame, column: str, paper_column: str) -> str:
    ours = cells[column].dropna()
    paper = cells[paper_column].dropna()
    text = "-" if ours.empty else "/".join(str(int(v)) for v in sorted(set(ours)))
    return f"{text} ({int(paper.iloc[0])})" if not paper.empty else f"{text} (-)"


def _paper_cell(size: str, paper: Mapping[str, Mapping[str, Any]]) -> str:
    values = (paper.get(size) or {}).get("paper_auc") or {}
    return " / ".join("-" if values.get(m) is None else f"{values[m]:.2f}" for m in PAPER_MODELS)


def _model_columns(frame: pd.DataFrame) -> list[tuple[str, str | None, str]]:
    """(init, model, header) of every model column: the paper's four families in its order,
    each naming the row that fills it (``None``: no fine-tuned row of that family), then
    fine-tuned rows of no family, then the control."""
    ran = frame[frame["model"].notna()]
    pairs = list(dict.fromkeys(zip(ran["init"], ran["model"], strict=True)))
    family = {m: f for m, f in zip(ran["model"], ran["paper_model"], strict=True) if f}
    tuned = [m for init, m in pairs if init == "whole_image"]
    out: list[tuple[str, str | None, str]] = []
    for name in PAPER_MODELS:
        rows = [m for m in tuned if family.get(m) == name] or [None]
        out += [("whole_image", m, f"{name}: {m or 'no row fine-tuned'}") for m in rows]
    out += [("whole_image", m, str(m)) for m in tuned if m not in family]
    for init, m in pairs:
        if init == "patch_only":
            label = f"{family[m]}: {m}" if m in family else str(m)
            out.append((init, m, f"control: {label} from its patch classifier only"))
    return out


def table4_markdown(frame: pd.DataFrame, paper: Mapping[str, Mapping[str, Any]]) -> str:
    """The table as GitHub Markdown, one line per size (see the module doc)."""
    columns = _model_columns(frame)
    header = ["Size", "#Patients (paper)", "#Images (paper)"] + [c[2] for c in columns]
    header += ["paper: " + " / ".join(PAPER_MODELS), "status/note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size, cells in frame.groupby("size", sort=False):
        ok = cells[cells["status"] == "ok"]
        counted = ok if not ok.empty else cells
        values = [
            str(size),
            _count_cell(counted, "n_patients", "paper_patients"),
            _count_cell(counted, "n_images", "paper_images"),
        ]
        for init, model, _ in columns:
            if model is None:
                values.append("not run")
                continue
            values.append(_auc_cell(cells[(cells["init"] == init) & (cells["model"] == model)]))
        notes = cells.loc[cells["status"] != "ok", ["status", "note"]].drop_duplicates()
        note = "; ".join(f"{s}: {n}" for s, n in notes.itertuples(index=False)) or "-"
        values += [_paper_cell(str(size), paper), note]
        lines.append("| " + " | ".join(values) + " |")
    text = "## Table 4: transfer learning efficiency with different training set sizes (INbreast)"
    chosen = " ".join(SELECTION_TEXT.get(s, s) for s in frame["select"].dropna().unique())
    return f"{text}\n\n{HEADER} {chosen}".rstrip() + "\n\n" + "\n".join(lines) + "\n"


def write_table4(
    result_files: Iterable[str | Path],
    sizes: Sequence[int | str],
    paper: Mapping[str, Mapping[str, Any]],
    not_run_note: str,
    csv: Path,
    md: Path,
) -> pd.DataFrame:
    """Read every cell's ``result.json``; write Table 4 as CSV and Markdown (atomically)."""
    results = [json.loads(Path(p).read_text()) for p in result_files]
    frame = table4_frame(results, sizes, paper, not_run_note)
    atomic_write_csv(frame, csv)
    atomic_write_bytes(table4_markdown(frame, paper).encode(), md)
    return frame
