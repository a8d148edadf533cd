"""``e2e-mammo predict``: score mammograms with a model or ensemble bundle.

:func:`predict` finds the inputs (:mod:`.inputs`), reads each as the pipeline did, scores them
in batches with the bundle (:mod:`.scorer`, flip TTA by default) on CPU or CUDA, and writes the
tables, heatmap overlays, failures (:mod:`.outputs`) and ``summary.json``. A bad input never
stops the others: every per-input step (journal key, header checks, decode, score, overlay
write) runs inside the input's own error boundary, and a problem lists it in ``failures.csv``
and on stderr. A rerun into the same folder skips the images already scored, and the inputs a
killed run died on (:mod:`.journal`).

While a run works, ``summary.json`` says ``"status": "running"`` and the tables of an earlier
run are gone (the journal rebuilds them), so a run that crashes leaves nothing claiming
success. At the end ``status`` is ``"complete"`` (every input scored or ignored) or
``"failures"``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import e2e_mammo
from e2e_mammo.errors import ConfigError
from e2e_mammo.io import atomic_write_json
from e2e_mammo.logs import Progress
from e2e_mammo.models.bundle import Bundle, load_bundle
from e2e_mammo.predict import journal as jr
from e2e_mammo.predict.gating import Gate, NotAnImage
from e2e_mammo.predict.inputs import (
    MIN_SCALE,
    Found,
    InputError,
    InputFile,
    LoadedImage,
    ReadOptions,
    find_inputs,
    read_input,
    study_uid,
)
from e2e_mammo.predict.names import namer
from e2e_mammo.predict.outputs import (
    TABLE_FILES,
    heatmap_name,
    write_ignored,
    write_overlay,
    write_tables,
)
from e2e_mammo.predict.scorer import BundleScorer, bundle_scorer
from e2e_mammo.preprocess.dicom import MAX_PIXELS

log = logging.getLogger(__name__)
#: ``predict``'s default model: the CBIS-DDSM ensemble bundle that ``make run`` leaves.
DEFAULT_BUNDLE = Path("results/ensemble/cbis-ddsm/bundle.pt")
#: Show a progress bar from this many images on.
PROGRESS_FROM = 8
SYNTHETIC_WARNING = (
    "this model was trained on the built-in synthetic demo data: its scores say nothing about "
    "real mammograms"
)
CRASHED = (
    "an earlier run into this folder died while reading or scoring this input (killed, e.g. "
    "for memory): skipped; pass --retry-crashed to try it again"
)


@dataclass(frozen=True)
class PredictOptions:
    """How to score: device (``auto``/``cpu``/``cuda``), flip TTA, images per batch, the
    smallest image side accepted (share of the model's input side), the largest image
    (pixels, from the header), the clinical gate's switches, keyed-hash names, whether to try
    again the inputs a killed run died on, progress display."""

    device: str = "auto"
    tta: bool = True
    batch_size: int = 1
    min_scale: float = MIN_SCALE
    max_pixels: int = MAX_PIXELS
    allow_for_processing: bool = False
    allow_other_modalities: bool = False
    hash_names: bool = False
    retry_crashed: bool = False
    progress: bool = True

    def read_options(self) -> ReadOptions:
        gate = Gate(self.allow_for_processing, self.allow_other_modalities)
        return ReadOptions(self.min_scale, self.max_pixels, gate)


class _Run:
    """The state of one predict run: rows, failures, ignored inputs, the journal."""

    def __init__(self, bundle: Bundle, out_dir: Path, options: PredictOptions) -> None:
        self.bundle, self.out_dir, self.options = bundle, out_dir, options
        self.read_options = options.read_options()
        self.name = namer(options.hash_names)
        self.model_data = str(bundle.provenance.get("data", "unknown"))
        self.rows: list[dict[str, Any]] = []
        self.studies: list[str] = []
        self.failures: list[dict[str, str]] = []
        self.ignored: list[dict[str, str]] = []
        self.resumed = 0
        score_options = {
            **asdict(self.read_options),
            "tta": options.tta,
            "hash_names": options.hash_names,
            "version": e2e_mammo.__version__,
        }
        self.run_key = jr.run_key(bundle.path, score_options)
        self.seen = jr.load_journal(out_dir)
        self.journal = jr.Journal(out_dir)
        heatmaps = [m.heatmap for m in bundle.members if m.heatmap is not None]
        self.window = heatmaps[0].window if heatmaps else 1

    def fail(self, file: str, step: str, reason: str, key: str = "") -> None:
        """List an input in ``failures.csv`` (``file`` as outputs write it)."""
        self.failures.append({"file": file, "step": step, "reason": reason})
        print(f"predict: {file}: {reason}", file=sys.stderr, flush=True)
        if key:
            self.journal.failed(key)

    def ignore(self, item: InputFile, reason: str, key: str) -> None:
        self.ignored.append({"file": item.file, "reason": reason})
        self.journal.failed(key)

    def reuse(self, item: InputFile, key: str) -> bool:
        """Take an earlier run's row for ``item`` when its key matches and its heatmap (if it
        had one) exists; a DICOM's study is read again from its header."""
        entry = self.seen.get(key)
        if entry is None or entry["row"]["image_index"] != item.image_index:
            return False
        heatmap = entry["row"].get("heatmap") or ""
        if heatmap and not (self.out_dir / heatmap).is_file():
            return False
        self.rows.append(dict(entry["row"]))
        dicom = item.kind == "dicom"
        self.studies.append(study_uid(item.path, self.options.max_pixels) if dicom else "")
        self.resumed += 1
        return True

    def row(self, image: LoadedImage, score: float, heatmap: np.ndarray | None) -> dict:
        """The image's table row (its overlay, when it has one, written first)."""
        name = ""
        if heatmap is not None:
            name = heatmap_name(image.item.image_index)
            write_overlay(self.out_dir / name, image.pixels, heatmap, self.window)
        return {
            "image_index": image.item.image_index,
            "file": image.item.file,
            "exam": self.name(image.views.exam) if image.views.exam else "",
            "laterality": image.views.laterality,
            "view": image.views.view,
            "malignant_pred": round(float(score), 6),
            "heatmap": name,
            "heatmap_max": round(float(heatmap.max()), 6) if heatmap is not None else None,
            "burned_in_annotation": "YES" if image.burned_in else "",
            "model_data": self.model_data,
        }

    def record(self, image: LoadedImage, score: float, heatmap: np.ndarray | None) -> None:
        """Write the image's overlay and journal its row (a write error fails this image)."""
        try:
            row = self.row(image, score, heatmap)
        except Exception as exc:  # a full disk or a bad name fails this image alone
            self.fail(image.item.file, "write", f"cannot write its heatmap: {exc}", image.key)
            return
        self.rows.append(row)
        self.studies.append(image.study)
        self.journal.append(image.key, row)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


def _load(run: _Run, item: InputFile) -> LoadedImage | None:
    """One input, read for scoring, or ``None`` (resumed, ignored or failed: recorded in
    ``run``). Every step runs inside this input's error boundary."""
    key = ""
    try:
        key = jr.image_key(run.run_key, item.path)  # stats the file: it may be gone
        if run.reuse(item, key):
            return None
        if key in run.seen.crashed and not run.options.retry_crashed:
            run.fail(item.file, "read", CRASHED)
            return None
        run.journal.start(key, item.image_index)
        image = read_input(item, run.bundle.preprocess, run.read_options)
        image.key = key
        return image
    except NotAnImage as exc:
        run.ignore(item, exc.reason, key)
    except InputError as exc:
        run.fail(item.file, exc.step, exc.reason, key)
    except FileNotFoundError:
        run.fail(item.file, "read", "the file disappeared during the run", key)
    except MemoryError:
        run.fail(item.file, "read", "out of memory while reading this image", key)
    except Exception as exc:  # an unforeseen reader error must not stop the others
        run.fail(item.file, "read", f"{type(exc).__name__}: {exc}", key)
    return None


def _batches(run: _Run, found: Found, tick) -> Iterator[list[LoadedImage]]:
    """Read the inputs not already scored, in batches; failures go to ``run``; ``tick`` counts
    the inputs done without scoring (resumed, ignored, failed)."""
    batch: list[LoadedImage] = []
    for item in found.images:
        image = _load(run, item)
        if image is None:
            tick(1)
            continue
        batch.append(image)
        if len(batch) >= run.options.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _score(scorer: BundleScorer, batch: list[LoadedImage], device, scale: float):
    pixels = np.stack([image.pixels for image in batch])[:, None]
    x = torch.from_numpy(pixels.astype(np.float32)).to(device) * scale
    with torch.inference_mode():
        scores, maps = scorer(x)
    maps = maps.cpu().numpy() if scorer.has_heatmap else [None] * len(batch)
    return scores.cpu().numpy(), maps


def _score_batch(run: _Run, batch: list[LoadedImage], scorer: BundleScorer, device) -> None:
    """Score and record one batch; when it fails (e.g. out of memory), each image alone."""
    scale = float(run.bundle.preprocess["png_scale"])
    try:
        scores, maps = _score(scorer, batch, device, scale)
    except (RuntimeError, MemoryError) as exc:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if len(batch) > 1:
            for image in batch:
                _score_batch(run, [image], scorer, device)
            return
        item = batch[0].item
        run.fail(item.file, "score", f"{type(exc).__name__}: {exc}", batch[0].key)
        return
    for image, score, heatmap in zip(batch, scores, maps, strict=True):
        run.record(image, score, heatmap)


def _score_all(run: _Run, found: Found, scorer: BundleScorer, device, tick) -> None:
    for batch in _batches(run, found, tick):
        _score_batch(run, batch, scorer, device)
        tick(len(batch))


def _assign_exams(rows: list[dict[str, Any]], studies: Sequence[str]) -> None:
    """Images whose names give no exam: their DICOM study (``study-N``), else their folder."""
    labels: dict[str, str] = {}
    for row, study in zip(rows, studies, strict=True):
        if row["exam"]:
            continue
        if study:
            row["exam"] = labels.setdefault(study, f"study-{len(labels) + 1}")
        else:
            row["exam"] = row["image_index"].rpartition("/")[0] or "."


def _progress(total: int, enabled: bool):
    """A counter to call with each batch's size: a bar on a terminal, else progress lines."""
    if not enabled or total < PROGRESS_FROM:
        return lambda n: None, lambda: None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="image", desc="predict", file=sys.stderr)
        return bar.update, bar.close
    lines = Progress("predict", total)
    return lines.tick, lambda: None


def predict(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    model: str | Path | Bundle = DEFAULT_BUNDLE,
    options: PredictOptions | None = None,
) -> dict[str, Any]:
    """Score ``inputs`` (files and folders) with the bundle ``model`` (a path, or a bundle
    already loaded) into ``out_dir``; returns
    the summary (also ``summary.json``). Raises ``BundleError`` for an unusable bundle and
    ``ConfigError`` when nothing is found or the device is missing; input problems never raise.
    """
    started = time.monotonic()
    options = options or PredictOptions()
    out_dir = Path(out_dir)
    bundle = model if isinstance(model, Bundle) else load_bundle(model)
    device = _device(options.device)
    found = find_inputs(inputs, exclude=out_dir, namer=namer(options.hash_names))
    if not found.images and not found.missing:
        raise ConfigError(f"no DICOM or PNG files in {', '.join(map(str, inputs))}")
    if bundle.provenance.get("data") == "synthetic":
        print(f"predict: warning: {SYNTHETIC_WARNING}", file=sys.stderr)
    _begin(out_dir)
    run = _Run(bundle, out_dir, options)
    for path, reason in found.missing:
        run.fail(path, "find", reason)
    scorer = bundle_scorer(bundle, options.tta).to(device)
    tick, close = _progress(len(found.images), options.progress)
    try:
        _score_all(run, found, scorer, device, tick)
    finally:
        close()
        run.journal.close()
    _assign_exams(run.rows, run.studies)
    written = write_tables(out_dir, run.rows, run.failures)
    written["ignored"] = write_ignored(out_dir, run.ignored)
    summary = _summary(run, found, device, written, time.monotonic() - started)
    atomic_write_json(summary, out_dir / "summary.json")
    return summary


def _begin(out_dir: Path) -> None:
    """Take away what an earlier run left that would claim this one's results (its tables and
    summary: the journal rebuilds them) and say that a run is under way."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TABLE_FILES:
        (out_dir / name).unlink(missing_ok=True)
    note = "a predict run is working in this folder, or died; its tables are not written yet"
    atomic_write_json({"status": "running", "note": note}, out_dir / "summary.json")


def _summary(run: _Run, found: Found, device, written, seconds: float) -> dict[str, Any]:
    bundle, n = run.bundle, len(run.rows)
    synthetic = bundle.provenance.get("data") == "synthetic"
    return {
        "status": "failures" if run.failures else "complete",
        "model": str(bundle.path),
        "model_kind": bundle.kind,
        "members": [m.name for m in bundle.members],
        "model_data": bundle.provenance.get("data", "unknown"),
        "model_git_commit": bundle.provenance.get("git_commit"),
        "model_created": bundle.provenance.get("created"),
        "preprocess": {k: bundle.preprocess[k] for k in ("image_size", "intensity")},
        "options": {**asdict(run.options), "device": str(device)},
        "inputs": len(found.images) + len(found.missing),
        "scored": n,
        "resumed": run.resumed,
        "failed": len(run.failures),
        "ignored": len(run.ignored),
        "ignored_files": found.ignored + [i["file"] for i in run.ignored],
        "heatmaps": any(m.heatmap is not None for m in bundle.members),
        "heatmap_source": [m.heatmap_source for m in bundle.members],
        "outputs": {k: p.name for k, p in written.items()},
        "seconds": round(seconds, 3),
        "warnings": [SYNTHETIC_WARNING] if synthetic else [],
        "e2e_mammo_version": e2e_mammo.__version__,
    }
