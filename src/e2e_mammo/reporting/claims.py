"""The paper's claims, computed: each one a paired comparison of two sets of predictions.

Every comparison scores side A and side B on the **same** images (their prediction tables
inner-joined on split and image id; labels that disagree are an error), as the difference of
their per-image ROC AUCs with a 95% paired patient-level bootstrap interval
(:mod:`e2e_mammo.evaluation.paired`). A side of several models or seeds is the mean of their
AUCs. The verdict reads the interval against the paper's direction; a comparison a needed model
did not train for is ``not run``, with the missing model and the switch that trains it. The
paper's numbers come from what the caller passes (params.yaml), never from this module.

Pure: it takes loaded results and returns a table and its Markdown; the files are
:mod:`e2e_mammo.reporting.claims_stage`'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from e2e_mammo.evaluation.paired import paired_auc_difference, verdict
from e2e_mammo.plan.evaluations import ClaimSettings
from e2e_mammo.plan.transfer_cells import size_label

COLUMNS = [
    "claim",
    "paper",
    "compared",
    "ours",
    "difference",
    "ci_low",
    "ci_high",
    "verdict",
    "direction",
    "split",
    "n_images",
    "n_patients",
    "note",
]
LEVEL = 0.95
CLAIMS = {
    "1": "Whole-image classifiers from S10 patches beat those from S1",
    "2": "The best end-to-end classifier beats the two-step baseline",
    "3": "Augmented prediction raises AUC",
    "4": "The four-model ensemble beats its best member",
    "5": "Inserting the heatmap as a bottleneck costs AUC",
    "6": "Convolutional tops beat heatmap + max-pool + FC tops",
    "7": "More VGG convolutions per block do worse (512 x 3 vs 512 x 1)",
    "8a": "INbreast: transfer from CBIS-DDSM beats the control",
    "8b": "INbreast: AUC at the largest size run is at least that at the smallest",
}
#: The Table 2/3 rows the fixed comparisons name (params.yaml's row names).
S10_ROW, S1_ROW = "r50-s10-res2048x1", "r50-s1-res2048x1"
TWO_STEP_ROW = "r50-s10-two-step"
PLAIN_ROW, HEATMAP_ROW = "r50-s10-res1024x2", "r50-s10-hm-res1024x2"
VGG_ONE_ROW, VGG_THREE_ROW = "vgg-s10-vgg512x1", "vgg-s10-vgg512x3"
END_TO_END = ("blocks", "heatmap", "fc")
PROB, TTA = "prob_malignant", "tta_prob_malignant"
TEST, VAL = "test", "val"


@dataclass(frozen=True, eq=False)
class RowResult:
    """One Table 2/3 row (its ``result.json``, the paper's numbers and its predictions)."""

    name: str
    table: int
    arch: str
    section: str
    family: str | None = None
    status: str = "ok"
    note: str = ""
    val_a_auc: float | None = None
    paper_auc: float | None = None
    paper_a_auc: float | None = None
    predictions: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """The CBIS-DDSM ensemble: its members and ``predictions.csv`` (``score``, ``score_<m>``)."""

    members: tuple[str, ...]
    predictions: pd.DataFrame


@dataclass(frozen=True, eq=False)
class TransferCell:
    """One Table 4 cell: ``init`` (``whole_image``/``patch_only``), model, size and seed."""

    init: str
    model: str
    family: str | None
    size: str
    seed: int
    status: str = "ok"
    predictions: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class _Score:
    """One score array of a side: its name, its predictions and their column."""

    label: str
    frame: pd.DataFrame
    column: str


@dataclass(frozen=True, eq=False)
class _Comparison:
    claim: str
    paper: str
    compared: str
    side_a: tuple[_Score, ...]
    side_b: tuple[_Score, ...]
    split: str = TEST
    direction: int = 1
    note: str = ""
    per_array: bool = False  # list every array's AUC in the note


# ---- helpers ---------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pub(value, digits: int = 2) -> str:
    """A published number as text (``-`` where the paper gives none)."""
    return "-" if _missing(value) else f"{float(value):.{digits}f}"


def _claim(key: str) -> str:
    return f"{key}. {CLAIMS[key]}"


def _usable(row: RowResult | None) -> bool:
    return row is not None and row.status == "ok" and row.predictions is not None


def _why_missing(name: str, rows: Mapping[str, RowResult], settings: ClaimSettings) -> str:
    row = rows.get(name)
    if row is None:
        return f"{name} is not configured (params.yaml table2/table3)"
    if row.status == "ok":
        return f"{name} trained but has no predictions"
    return f"{name} did not train ({row.status}): {row.note or settings.not_run_switch}"


def _best_on_val(rows: Iterable[RowResult]) -> RowResult | None:
    """The row with the highest validation A-AUC (the first of ties; rows without one skip)."""
    best = None
    for row in rows:
        if not _missing(row.val_a_auc) and (best is None or row.val_a_auc > best.val_a_auc):
            best = row
    return best


def _max_published(values: Iterable) -> float | None:
    kept = [float(v) for v in values if not _missing(v)]
    return max(kept) if kept else None


def _not_run(claim: str, paper: str, compared: str, note: str, split: str = TEST) -> dict:
    return {
        "claim": claim,
        "paper": paper,
        "compared": compared,
        "ours": "",
        "verdict": "not run",
        "direction": 1,
        "split": split,
        "note": note,
    }


# ---- pairing and scoring ---------------------------------------------------------------------


def paired_scores(scores: Sequence[_Score], split: str) -> pd.DataFrame:
    """The scores' images of ``split`` they all share (inner join on image id), sorted by
    image id: ``image_id``, ``patient_id``, ``label`` and ``score0``, ``score1``, ...

    Raises ``ValueError`` when a table lacks a column, repeats an image or when two tables
    disagree on an image's label or patient."""
    merged = None
    for i, score in enumerate(scores):
        needed = ["split", "image_id", "patient_id", "label", score.column]
        missing = [c for c in needed if c not in score.frame.columns]
        if missing:
            raise ValueError(f"{score.label}: predictions lack column(s) {missing}")
        part = score.frame.loc[score.frame["split"] == split, needed[1:]].copy()
        part["image_id"] = part["image_id"].astype(str)
        if part["image_id"].duplicated().any():
            raise ValueError(f"{score.label}: repeated image ids in split {split!r}")
        part.columns = ["image_id", f"patient{i}", f"label{i}", f"score{i}"]
        merged = part if merged is None else merged.merge(part, on="image_id", how="inner")
    for i in range(1, len(scores)):
        for what in ("label", "patient"):
            bad = merged[f"{what}0"].astype(str) != merged[f"{what}{i}"].astype(str)
            if bad.any():
                raise ValueError(
                    f"{what}s disagree between {scores[0].label} and {scores[i].label} on "
                    f"{int(bad.sum())} {split} image(s), e.g. {merged.loc[bad, 'image_id'].iloc[0]}"
                )
    merged = merged.rename(columns={"patient0": "patient_id", "label0": "label"})
    return merged.sort_values("image_id", kind="stable").reset_index(drop=True)


def _side_text(aucs: Sequence[float]) -> str:
    if not aucs or any(_missing(a) for a in aucs):
        return "-"
    if len(aucs) == 1:
        return f"{aucs[0]:.3f}"
    return f"{np.mean(aucs):.3f} ± {np.std(aucs, ddof=1):.3f} ({len(aucs)})"


def _per_array(side: str, scores: Sequence[_Score], aucs: Sequence[float]) -> str:
    listed = ", ".join(f"{s.label} {a:.3f}" for s, a in zip(scores, aucs, strict=True))
    return f"{side} AUCs: {listed}"


def _evaluate(comparison: _Comparison, settings: ClaimSettings) -> dict:
    """A comparison's row: the paired AUC difference of its two sides on their shared images."""
    c = comparison
    joined = paired_scores([*c.side_a, *c.side_b], c.split)
    arrays = [joined[f"score{i}"].to_numpy(float) for i in range(len(c.side_a) + len(c.side_b))]
    stats = paired_auc_difference(
        joined["label"].astype(int).to_numpy(),
        joined["patient_id"].astype(str).to_numpy(),
        arrays[: len(c.side_a)],
        arrays[len(c.side_a) :],
        n_boot=settings.n_boot,
        seed=settings.seed,
        level=LEVEL,
    )
    notes = [c.note] if c.note else []
    if stats["n"] == 0:
        notes.append(f"the two sides share no {c.split} images")
    elif c.per_array or len(c.side_a) > 1 or len(c.side_b) > 1:
        notes.append(_per_array("A", c.side_a, stats["aucs_a"]))
        notes.append(_per_array("B", c.side_b, stats["aucs_b"]))
    return {
        "claim": c.claim,
        "paper": c.paper,
        "compared": c.compared,
        "ours": f"{_side_text(stats['aucs_a'])} vs {_side_text(stats['aucs_b'])}",
        "difference": stats["difference"],
        "ci_low": stats["ci_low"],
        "ci_high": stats["ci_high"],
        "verdict": verdict(stats["ci_low"], stats["ci_high"], c.direction),
        "direction": c.direction,
        "split": c.split,
        "n_images": stats["n"],
        "n_patients": stats["n_patients"],
        "note": "; ".join(notes),
    }


# ---- the claims on CBIS-DDSM -----------------------------------------------------------------


def _row_vs_row(
    claim: str,
    a: RowResult | str,
    b: RowResult | str,
    rows: Mapping[str, RowResult],
    settings: ClaimSettings,
    paper: str | None = None,
) -> _Comparison | dict:
    """Row A against row B, test AUC of ``prob_malignant`` (or ``not run`` naming the missing)."""
    name_a, name_b = (r if isinstance(r, str) else r.name for r in (a, b))
    row_a, row_b = rows.get(name_a), rows.get(name_b)
    if paper is None:
        paper = " vs ".join(_pub(getattr(r, "paper_auc", None)) for r in (row_a, row_b))
    compared = f"{name_a} vs {name_b}, test AUC"
    pairs = ((name_a, row_a), (name_b, row_b))
    missing = [_why_missing(n, rows, settings) for n, r in pairs if not _usable(r)]
    if missing:
        return _not_run(claim, paper, compared, "; ".join(missing))
    sides = tuple((_Score(r.name, r.predictions, PROB),) for r in (row_a, row_b))
    return _Comparison(claim, paper, compared, *sides)


def _end_to_end(
    rows: Iterable[RowResult], tables: Sequence[int] = (2, 3), arch: str | None = None
) -> list[RowResult]:
    return [
        r
        for r in rows
        if r.table in tables and r.section in END_TO_END and (arch is None or r.arch == arch)
    ]


def _best_vs_two_step(rows: Mapping[str, RowResult], settings: ClaimSettings) -> _Comparison | dict:
    claim = _claim("2")
    table2 = _end_to_end(rows.values(), (2,), "resnet50")
    two_step = rows.get(TWO_STEP_ROW)
    paper = f"{_pub(_max_published(r.paper_auc for r in table2))} vs "
    paper += _pub(getattr(two_step, "paper_auc", None))
    best = _best_on_val(r for r in table2 if _usable(r))
    if best is None:
        names = ", ".join(r.name for r in table2) or "none configured"
        note = f"no Table 2 end-to-end row trained with a validation A-AUC ({names}); "
        note += f"to train them: {settings.not_run_switch}"
        return _not_run(claim, paper, f"best Table 2 end-to-end vs {TWO_STEP_ROW}", note)
    item = _row_vs_row(claim, best, TWO_STEP_ROW, rows, settings, paper)
    note = f"{best.name}: the Table 2 end-to-end row with the best validation A-AUC"
    if isinstance(item, dict):
        item["note"] = f"{note}; {item['note']}"
        return item
    return replace(item, note=note)


def _augmented(rows: Mapping[str, RowResult]) -> list[_Comparison | dict]:
    """One tta-vs-plain comparison per trained end-to-end row, then all of them pooled."""
    claim = _claim("3")
    ran = [r for r in _end_to_end(rows.values()) if _usable(r) and TTA in r.predictions.columns]
    if not ran:
        note = "no end-to-end Table 2/3 row trained with augmented (flip) predictions"
        return [_not_run(claim, "-", "A-AUC vs AUC, test", note)]
    out: list = []
    for r in ran:
        paper = f"{_pub(r.paper_a_auc)} vs {_pub(r.paper_auc)}"
        sides = ((_Score(r.name, r.predictions, TTA),), (_Score(r.name, r.predictions, PROB),))
        out.append(_Comparison(claim, paper, f"{r.name}, test A-AUC vs AUC", *sides))
    published = [r for r in ran if not (_missing(r.paper_a_auc) or _missing(r.paper_auc))]
    paper = "-"
    if published:
        mean_a = np.mean([r.paper_a_auc for r in published])
        mean_b = np.mean([r.paper_auc for r in published])
        paper = f"{mean_a:.3f} vs {mean_b:.3f} (mean of {len(published)})"
    side_a = tuple(_Score(r.name, r.predictions, TTA) for r in ran)
    side_b = tuple(_Score(r.name, r.predictions, PROB) for r in ran)
    compared = f"{len(ran)} end-to-end rows pooled, test mean A-AUC vs mean AUC (shared images)"
    out.append(_Comparison(claim, paper, compared, side_a, side_b))
    return out


def _ensemble_vs_best(
    rows: Mapping[str, RowResult], ensemble: EnsembleResult | None, settings: ClaimSettings
) -> _Comparison | dict:
    claim = _claim("4")
    best_paper = _max_published(r.paper_a_auc for r in rows.values())
    paper = f"{_pub(settings.paper_ensemble_auc)} vs {_pub(best_paper)}"
    compared = "ensemble vs its best member on validation A-AUC, test A-AUC"
    if ensemble is None:
        return _not_run(claim, paper, compared, "no CBIS-DDSM ensemble was built")
    members = [rows.get(m) for m in ensemble.members]
    best = _best_on_val(m for m in members if _usable(m))
    if best is None:
        missing = "; ".join(_why_missing(m, rows, settings) for m in ensemble.members)
        return _not_run(claim, paper, compared, f"no member with predictions: {missing}")
    compared = (
        f"ensemble of {len(members)} ({', '.join(ensemble.members)}) vs {best.name} "
        "(its member with the best validation A-AUC), test A-AUC"
    )
    side_a = (_Score("ensemble", ensemble.predictions, "score"),)
    return _Comparison(claim, paper, compared, side_a, (_Score(best.name, best.predictions, TTA),))


def _blocks_vs_fc(
    rows: Mapping[str, RowResult], settings: ClaimSettings
) -> list[_Comparison | dict]:
    """Per patch classifier: its best convolutional top against its best heatmap + FC top."""
    out = []
    for arch, table in (("resnet50", 2), ("vgg16", 3)):
        best, paper = {}, []
        for section in ("blocks", "fc"):
            mine = [r for r in rows.values() if r.table == table and r.section == section]
            paper.append(_pub(_max_published(r.paper_auc for r in mine)))
            best[section] = _best_on_val(r for r in mine if _usable(r))
            if best[section] is None:
                names = ", ".join(f"{r.name} ({r.status})" for r in mine) or "none configured"
                best[section] = f"no {arch} {section!r} row trained: {names}"
        paper_text = " vs ".join(paper)
        compared = f"best {arch} 'blocks' vs best 'fc' top (Table {table}, chosen on val A-AUC)"
        gaps = [v for v in best.values() if isinstance(v, str)]
        if gaps:
            note = "; ".join(gaps) + f"; to train them: {settings.not_run_switch}"
            out.append(_not_run(_claim("6"), paper_text, compared, note))
            continue
        out.append(_row_vs_row(_claim("6"), best["blocks"], best["fc"], rows, settings, paper_text))
    return out


# ---- the claims on INbreast ------------------------------------------------------------------


def _sizes_in_order(cells: Sequence[TransferCell], sizes: Sequence[int | str]) -> list[str]:
    """The sizes the cells ran, in the sweep's order (unlisted sizes last)."""
    order = [size_label(s) for s in sizes]
    ran = dict.fromkeys(size_label(c.size) for c in cells)
    return [s for s in order if s in ran] + [s for s in ran if s not in order]


def _cell_score(cell: TransferCell, label: str) -> _Score:
    return _Score(label, cell.predictions, PROB)


def _transfer_vs_control(
    cells: Sequence[TransferCell], settings: ClaimSettings
) -> list[_Comparison | dict]:
    claim = _claim("8a")
    controls = dict.fromkeys(c.model for c in cells if c.init == "patch_only")
    out: list = []
    for model in controls:
        mine = [c for c in cells if c.model == model]
        for size in _sizes_in_order(mine, settings.sizes):
            at = [c for c in mine if size_label(c.size) == size]
            tuned = tuple(_cell_score(c, f"seed {c.seed}") for c in at if c.init == "whole_image")
            control = tuple(_cell_score(c, f"seed {c.seed}") for c in at if c.init == "patch_only")
            if not tuned or not control:
                continue
            family = next((c.family for c in at if c.family), None)
            published = (settings.paper_table4.get(size) or {}).get(family)
            paper = f"{_pub(published)} vs - (no control in the paper)"
            compared = (
                f"{model} fine-tuned from its CBIS-DDSM whole-image model vs from its patch "
                f"classifier only (control), n={size}, INbreast val AUC"
            )
            out.append(_Comparison(claim, paper, compared, tuned, control, VAL, per_array=True))
    if not out:
        switch = settings.sweep_switch or settings.not_run_switch
        note = f"no size has both a fine-tuned and a control (patch_only) cell; to run: {switch}"
        return [_not_run(claim, "-", "fine-tuned vs control, INbreast val AUC", note, VAL)]
    return out


def _largest_vs_smallest(
    cells: Sequence[TransferCell], settings: ClaimSettings
) -> _Comparison | dict:
    claim = _claim("8b")
    tuned = [c for c in cells if c.init == "whole_image"]
    sizes = _sizes_in_order(tuned, settings.sizes)
    compared = "largest vs smallest training size run, fine-tuned models, INbreast val AUC"
    if len(sizes) < 2:
        switch = settings.sweep_switch or settings.not_run_switch
        note = f"needs two sizes, ran: {', '.join(sizes) or 'none'}; to run more: {switch}"
        return _not_run(claim, "-", compared, note, VAL)
    large, small = sizes[-1], sizes[0]
    at = {s: {(c.model, c.seed): c for c in tuned if size_label(c.size) == s} for s in sizes}
    keys = [k for k in at[large] if k in at[small]]
    if not keys:
        return _not_run(claim, "-", compared, f"no model and seed ran at both n={large}, n={small}")
    families = [f for f in dict.fromkeys(at[large][k].family for k in keys) if f]
    paper = "-"
    published = {s: [(settings.paper_table4.get(s) or {}).get(f) for f in families] for s in sizes}
    if families and not any(_missing(v) for s in (large, small) for v in published[s]):
        mean_l, mean_s = np.mean(published[large]), np.mean(published[small])
        paper = f"{mean_l:.3f} vs {mean_s:.3f} (mean of {len(families)})"
    side_a = tuple(_cell_score(at[large][k], f"{k[0]} s{k[1]}") for k in keys)
    side_b = tuple(_cell_score(at[small][k], f"{k[0]} s{k[1]}") for k in keys)
    compared = f"n={large} vs n={small}, {len(keys)} fine-tuned model/seed cells, INbreast val AUC"
    return _Comparison(claim, paper, compared, side_a, side_b, VAL, per_array=True)


# ---- the table -------------------------------------------------------------------------------


def _comparisons(
    rows: Mapping[str, RowResult],
    ensemble: EnsembleResult | None,
    cells: Sequence[TransferCell],
    settings: ClaimSettings,
) -> list:
    """Every claim's comparisons (or ``not run`` rows), in the paper's order."""
    return [
        _row_vs_row(_claim("1"), S10_ROW, S1_ROW, rows, settings),
        _best_vs_two_step(rows, settings),
        *_augmented(rows),
        _ensemble_vs_best(rows, ensemble, settings),
        _row_vs_row(_claim("5"), PLAIN_ROW, HEATMAP_ROW, rows, settings),
        *_blocks_vs_fc(rows, settings),
        _row_vs_row(_claim("7"), VGG_ONE_ROW, VGG_THREE_ROW, rows, settings),
        *_transfer_vs_control(cells, settings),
        _largest_vs_smallest(cells, settings),
    ]


def claims_frame(
    rows: Iterable[RowResult],
    ensemble: EnsembleResult | None,
    cells: Iterable[TransferCell],
    settings: ClaimSettings,
) -> pd.DataFrame:
    """One line per comparison of the paper's claims (the columns of :data:`COLUMNS`)."""
    by_name = {r.name: r for r in rows}
    usable_cells = [c for c in cells if c.status == "ok" and c.predictions is not None]
    items = _comparisons(by_name, ensemble, usable_cells, settings)
    records = [_evaluate(i, settings) if isinstance(i, _Comparison) else i for i in items]
    frame = pd.DataFrame(records, columns=COLUMNS)
    for column in ("n_images", "n_patients", "direction"):
        frame[column] = frame[column].astype("Int64")
    for column in ("difference", "ci_low", "ci_high"):
        frame[column] = frame[column].astype(float)
    return frame.fillna({"ours": "", "note": ""})


# ---- Markdown --------------------------------------------------------------------------------

TITLE = "# The paper's claims, computed"
HEADER = (
    "Every number in the 'ours' and 'A - B' columns is computed on the data configured in "
    "params.yaml (the demo: synthetic data, small images, few epochs), never the paper's; the "
    "paper's published numbers are in the 'paper' column. Each difference is A - B of per-image "
    "ROC AUCs on the same images (the two prediction tables joined on split and image), with a "
    "95% patient-level paired bootstrap interval{boot}; a side of several models or seeds is "
    "the mean of their AUCs. Verdicts: **holds**: the interval excludes 0 in the paper's "
    "direction; **contradicted**: it excludes 0 the other way; **cannot tell**: it covers 0; "
    "**not run**: a model the comparison needs did not train here (the note says which, and "
    "how to train it)."
)


def _md_cell(value) -> str:
    text = "-" if value is None or value is pd.NA or _missing(value) else str(value)
    return (text or "-").replace("|", "\\|").replace("\n", " ")


def _difference_cell(row) -> str:
    if _missing(row["difference"]):
        return "-"
    if _missing(row["ci_low"]) or _missing(row["ci_high"]):
        return f"{row['difference']:+.3f}"
    return f"{row['difference']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def claims_markdown(frame: pd.DataFrame, settings: ClaimSettings | None = None) -> str:
    """The claims table as a GitHub Markdown page (``settings``: the bootstrap it states)."""
    boot = ""
    if settings is not None:
        boot = f" ({settings.n_boot} resamples of patients, seed {settings.seed})"
    header = ["Claim", "Paper", "Compared (A vs B)", "Ours (A vs B)", "A - B [95% CI]"]
    header += ["Verdict", "Split", "Images (patients)", "Note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in frame.iterrows():
        counts = "-"
        if not pd.isna(row["n_images"]):
            counts = f"{int(row['n_images'])} ({int(row['n_patients'])})"
        values = [row["claim"], row["paper"], row["compared"], row["ours"], _difference_cell(row)]
        values += [f"**{row['verdict']}**", row["split"], counts, row["note"]]
        lines.append("| " + " | ".join(_md_cell(v) for v in values) + " |")
    return f"{TITLE}\n\n{HEADER.format(boot=boot)}\n\n" + "\n".join(lines) + "\n"
