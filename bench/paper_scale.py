"""Paper-scale cost: time a few steps of every training stage, extrapolate the paper profile.

For each kind of step the paper profile runs, on synthetic data written into a temporary folder
and read through the project's own loaders, models and loops:

* Table 1 patch classifiers (224x224 patches at 1152x896, batch 32), stage by stage (``head``,
  ``top``, ``all`` trainable, :func:`e2e_mammo.training.staged.apply_stage`), from a
  memory-mapped uint16 ``.npy`` patch array (:class:`~e2e_mammo.data.PatchArrayDataset`, no
  loader workers, as the patch stage), and their scoring (``evaluate``);
* Tables 2-3 whole-image classifiers (1152x896 16-bit PNGs from the synthetic mammogram
  generator, batch 2, :class:`~e2e_mammo.data.WholeImageDataset` decoded by
  ``whole_image.workers`` loader processes): stage 1 (new top layers) and stage 2 (all layers,
  patch batch norm per ``whole_image.patch_bn``), validation passes, and scoring with flip TTA
  (:func:`~e2e_mammo.evaluation.tta.flip_tta_probs` through ``evaluate(tta=True)``, the PNGs
  decoded in the main process as the scorer does);
* Table 4 INbreast fine-tuning (all layers, patch batch norm per ``transfer.patch_bn``).

Each measurement builds the real model (random weights: timing only) and runs ``--warmup`` +
``--steps`` batches of :func:`~e2e_mammo.training.loop.train_one_epoch` (or ``evaluate``) from the
real loader, and reports seconds per step, images/s, the share of the timed wall time the loop
spent blocked on the loader's next batch, and the peak memory (CUDA: ``max_memory_allocated``
since the model went to the device; CPU: the process's peak RSS, ``getrusage`` after a
``/proc/self/clear_refs`` reset, loader worker processes not included). Variants: fp32 or bf16
autocast, contiguous or channels_last (``--variants``; the loop uses autocast on CUDA only).

From the measured seconds per step and the paper profile (``params.yaml`` merged with
``profiles/paper/params.yaml`` as Snakemake merges a profile's ``configfile``: every Table 1 row,
every Table 2/3 row, every Table 4 cell, their epochs, batch sizes and schedules) and the real
data sizes (named constants below, with their sources) it writes the number of steps and the
extrapolated hours of every stage and of the whole profile on this device, and on N devices
under Snakemake (see :func:`makespan_hours`), as markdown and as JSON (``--out``).

    .venv/bin/python bench/paper_scale.py --out paper_scale.json          # CUDA when visible
    .venv/bin/python bench/paper_scale.py --quick --out /tmp/quick.json   # CPU code-path check

``--quick`` (for CPUs): the demo's 256x192 images (patch side scaled to 50), 1 warm-up and 2
timed steps: a smoke test of the code path, not a paper-scale measurement.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench helpers beside this file

from process_memory import peak_rss, reset_peak_rss  # noqa: E402

#: Views (distinct patient, breast side and view) in the four CBIS-DDSM description CSVs of the
#: current release (the NBIA download the pipeline reads; /work/shared/cbis-ddsm-csv). The paper
#: had 2,478 (section 3.1.1); the paper profile's split (85/15 by patient, 10 % of the training
#: patients for validation) leaves ~2,320 of these 3,032 for training (the issue's "~2,300").
CBIS_VIEWS = 3032
#: ROI rows of the same CSVs. A patch set holds ``n_roi + n_background`` patches per ROI
#: (``patches.sets``; background patches are drawn per ROI): S10 71,360 (the issue's "~71k", all
#: splits), S1 7,136 (paper 3.1.1: one patch centred on the ROI and one background patch).
CBIS_ROIS = 3568
#: INbreast validation split, the one Table 4 reports: 107 images of 31 women (paper 3.2.1).
#: The training subsets' images per size are params.yaml's ``table4`` ``paper_images``.
INBREAST_VAL_IMAGES = 107
#: Phases of the Snakemake DAG: a whole-image row needs its patch classifier, a Table 4 cell the
#: CBIS-DDSM ensemble's choice of members (every whole-image row).
PATCH_PHASE, WHOLE_PHASE, TRANSFER_PHASE = 1, 2, 3
#: ``name: (bf16 autocast, channels_last)``, in the order they are measured (the pipeline's
#: own CUDA setting first, so a run cut short by the time guard still has it).
VARIANTS = {
    "bf16+cl": (True, True),
    "fp32": (False, False),
    "fp32+cl": (False, True),
    "bf16": (True, False),
}
CPU_DEFAULT_VARIANTS = ("fp32", "fp32+cl")
#: The representative top of every whole-image row: Table 2/3's "[512-512-1024] x 2" (the tops
#: of ensemble members; the backbone at 1152x896 dominates a step, see the README).
DEFAULT_TOP = {"type": "resnet", "blocks": [[512, 512, 1024, 2], [512, 512, 1024, 2]]}
GPU_COUNTS = (1, 2, 4, 8)
#: What the extrapolation takes for granted (printed, and in the JSON).
ASSUMPTIONS = (
    "every Table 2/3 row of an arch costs per step what the [512-512-1024] x 2 top costs",
    "the two-step baseline (random forest on heatmaps) and the jobs that do not train are not "
    "counted; ImageNet and random initial weights cost the same per step",
    "data sizes: 3,032 CBIS-DDSM views and 3,568 ROIs split as the profile's split, S10 20 and "
    "S1 2 patches per ROI, INbreast subsets as table4's paper_images, 107 validation images",
    "N devices: one training job per device; patch rows, whole-image rows and Table 4 cells run "
    "as three phases one after the other, each packed longest job first (LPT)",
    "the whole-image extension's at-most 200 epochs are shown apart, not in the total",
)
MIB = 2**20


# --- the paper profile and its work ------------------------------------------------------------
def load_profile(root: Path = ROOT, profile: str = "profiles/paper/params.yaml") -> dict:
    """``params.yaml`` with the profile's ``params.yaml`` merged over it (Snakemake's own
    ``update_config``, as ``configfile:`` in the profile does), validated against the schema."""
    from snakemake.utils import update_config

    from e2e_mammo.config import load_yaml, validate_params

    config = load_yaml(root / "params.yaml")
    update_config(config, load_yaml(root / profile))
    validate_params(config, root / "workflow/schemas/params.schema.yaml")
    return config


@dataclass(frozen=True)
class DataSizes:
    """Images and patches per split of the real datasets under the profile's split."""

    images: Mapping[str, int]  # CBIS-DDSM: train, val, test
    patches: Mapping[str, Mapping[str, int]]  # per patch set: train, val, test
    inbreast_subsets: Mapping[str, int]  # training images per Table 4 size label
    inbreast_val: int


def data_sizes(config: Mapping[str, Any]) -> DataSizes:
    """:class:`DataSizes` from the named constants and the profile's split fractions (patient
    split taken as an image and ROI split of the same fractions)."""
    from e2e_mammo.plan.transfer_cells import paper_table4

    split = config["split"]["cbis_ddsm"]
    test, val = float(split["test_frac"]), float(split["val_frac"])
    share = {"train": (1 - test) * (1 - val), "val": (1 - test) * val, "test": test}
    images = {s: round(CBIS_VIEWS * f) for s, f in share.items()}
    patches = {
        name: {
            s: round(CBIS_ROIS * f) * (int(p["n_roi"]) + int(p["n_background"]))
            for s, f in share.items()
        }
        for name, p in config["patches"]["sets"].items()
    }
    subsets = {
        size: int(row["paper_images"]) for size, row in paper_table4(config["table4"]).items()
    }
    return DataSizes(images, patches, subsets, INBREAST_VAL_IMAGES)


@dataclass(frozen=True)
class Work:
    """Some batches of one kind of step (``bench``) in one Snakemake ``job``."""

    job: str
    phase: int
    label: str  # the stage table's row: "<table> <arch> ...: <what>"
    bench: str  # the measured step: "<group>/<arch>/<mode>"
    steps: int
    rank: int = 0  # the row's place among its table and arch's rows
    optional: bool = False  # only if the run has not converged (the at-most extension)


#: Ranks of the patch stages' rows (by what trains), then their validation and scoring.
PATCH_RANKS = {"head": 0, "top": 1, "all": 2, "eval": 3}


def patch_work(config: Mapping[str, Any], sizes: DataSizes) -> list[Work]:
    """Every Table 1 row: each schedule stage's training batches, a validation pass per epoch
    (the monitor) and the final scoring of every split (batch ``patch_training.batch_size``)."""
    from e2e_mammo.plan.patch_rows import row_schedule, selected_patch_rows

    cfg = config["patch_training"]
    bs, table1 = int(cfg["batch_size"]), {r["row"]: r for r in config["table1"]}
    out = []
    for name in selected_patch_rows(config["table1"], cfg.get("rows", "all")):
        row = table1[name]
        arch, pset, job = row["arch"], row["patch_set"], f"table1/{name}"
        n, evals = sizes.patches[pset], f"Table 1 {arch} rows: validation every epoch, scoring"
        schedule = row_schedule(
            pset, row["pretrained"], cfg["schedules"], cfg["epoch_scale"], row.get("schedule")
        )
        for st in schedule:
            label = f"Table 1 {arch} {pset}: {st.trainable} trainable"
            bench, rank = f"patch/{arch}/train-{st.trainable}", PATCH_RANKS[st.trainable]
            train, val = (st.epochs * math.ceil(n[s] / bs) for s in ("train", "val"))
            out.append(Work(job, PATCH_PHASE, label, bench, train, rank))
            out.append(Work(job, PATCH_PHASE, evals, f"patch/{arch}/eval", val, 3))
        scored = math.ceil(sum(n.values()) / bs)  # every split, at the end
        out.append(Work(job, PATCH_PHASE, evals, f"patch/{arch}/eval", scored, 3))
    return out


def _whole_rows(config: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """(table, row) of the Table 2/3 rows ``whole_image.rows`` trains, the two-step one included."""
    selected = config["whole_image"]["rows"]
    rows = [(t, r) for t in (2, 3) for r in config[f"table{t}"]]
    return [(t, r) for t, r in rows if selected == "all" or r["row"] in selected]


def whole_work(config: Mapping[str, Any], sizes: DataSizes) -> list[Work]:
    """Every end-to-end Table 2/3 row: the 2-stage schedule, a validation pass per epoch, the
    at-most extension (optional) and the final flip-TTA scoring of validation and test."""
    from e2e_mammo.plan.schedules import scale_schedule

    w = config["whole_image"]
    bs, img = int(w["batch_size"]), sizes.images
    train, val = math.ceil(img["train"] / bs), math.ceil(img["val"] / bs)
    schedule = scale_schedule(w["schedule"], w["epoch_scale"])
    extra = int((w.get("extension") or {}).get("max_extra", 0))
    out = []
    for table, row in _whole_rows(config):
        if row["top"]["type"] == "two_step":
            continue  # a random forest on heatmaps: not a training loop (see the README)
        arch, job = row["arch"], f"table{table}/{row['row']}"
        tag, ev = f"Tables 2-3 {arch}", f"whole/{arch}/eval"
        for i, st in enumerate(schedule, 1):
            label = f"{tag}: stage {i} {st.name} ({st.trainable} trainable)"
            bench = f"whole/{arch}/train-{st.trainable}"
            out.append(Work(job, WHOLE_PHASE, label, bench, st.epochs * train, i))
            label = f"{tag}: validation every epoch"
            out.append(Work(job, WHOLE_PHASE, label, ev, st.epochs * val, len(schedule) + 1))
        if extra:
            label = f"{tag}: extension, at most {extra} more stage-{len(schedule)} epochs + val"
            for kind, steps in ((bench, extra * train), (ev, extra * val)):
                out.append(Work(job, WHOLE_PHASE, label, kind, steps, 9, optional=True))
        scored = val + math.ceil(img["test"] / bs)
        label = f"{tag}: scoring val + test with flip TTA"
        out.append(Work(job, WHOLE_PHASE, label, f"whole/{arch}/tta", scored, 8))
    return out


def transfer_models(config: Mapping[str, Any]) -> dict[str, str]:
    """The fine-tuned models and their patch classifiers' arch: the ensemble's one member per
    family (``Resnet-VGG``: ResNet50 patch layers), or the listed Table 2/3 rows."""
    models = config["transfer"]["models"]
    if models == "ensemble":
        archs = {"resnet": "resnet50", "vgg": "vgg16"}
        return {f: archs[f.split("-")[0].lower()] for f in config["ensemble"]["families"]}
    rows = {r["row"]: r["arch"] for t in ("table2", "table3") for r in config[t]}
    return {m: rows[m] for m in models}


def transfer_work(config: Mapping[str, Any], sizes: DataSizes) -> list[Work]:
    """Every Table 4 cell (``sweep_cells``: models x sizes x seeds, then the control): its
    stages (``cell_schedule``: the control's warm-up, the fine-tuning), inner validation if
    ``select: inner_val``, and the scoring of INbreast validation (flip TTA for the fine-tuned
    cells of ``transfer.ensemble_size``)."""
    from e2e_mammo.plan.transfer_cells import cell_dir, cell_schedule, size_label, sweep_cells

    t, w = config["transfer"], config["whole_image"]
    bs, archs = int(t["batch_size"]), transfer_models(config)
    inner = float(t["inner_val_frac"]) if t["select"] == "inner_val" else 0.0
    out = []
    for init, model, size, seed in sweep_cells(t, list(archs)):
        arch, job, tag = archs[model], cell_dir(init, model, size, seed), f"Table 4 {archs[model]}"
        n_inner = round(sizes.inbreast_subsets[size] * inner)
        train, inner_val = (
            math.ceil(n / bs) for n in (sizes.inbreast_subsets[size] - n_inner, n_inner)
        )
        for st in cell_schedule(init, t, w):
            group, rank = ("transfer", 1) if st.name == "fine_tune" else ("whole", 0)
            bench = f"{group}/{arch}/train-{st.trainable}"
            label = f"{tag}: {st.name} ({st.trainable} trainable)"
            out.append(Work(job, TRANSFER_PHASE, label, bench, st.epochs * train, rank))
            if inner_val:
                label = f"{tag}: inner validation every epoch"
                steps = st.epochs * inner_val
                out.append(Work(job, TRANSFER_PHASE, label, f"whole/{arch}/eval", steps, 2))
        tta = init == "whole_image" and size == size_label(t["ensemble_size"])
        label = f"{tag}: scoring INbreast validation" + (" with flip TTA" if tta else "")
        bench, steps = (
            f"whole/{arch}/{'tta' if tta else 'eval'}",
            math.ceil(sizes.inbreast_val / bs),
        )
        out.append(Work(job, TRANSFER_PHASE, label, bench, steps, 3 + tta))
    return out


def paper_work(config: Mapping[str, Any]) -> list[Work]:
    """All the training and scoring steps of the profile's Tables 1-4."""
    sizes = data_sizes(config)
    return [*patch_work(config, sizes), *whole_work(config, sizes), *transfer_work(config, sizes)]


# --- extrapolation ----------------------------------------------------------------------------
def stage_rows(work: Sequence[Work], sec_per_step: Mapping[str, float | None]) -> list[dict]:
    """One row per stage label, in table order: jobs, steps, the measured s/step (where the row
    has one kind of step) and the extrapolated hours (``None`` where a step was not measured)."""
    rows: dict[str, dict] = {}
    for w in work:
        key = (w.phase, w.label.split(":")[0], w.rank, w.label)
        row = rows.setdefault(w.label, {"key": key, "jobs": set(), "parts": [], "w": w})
        row["jobs"].add(w.job)
        row["parts"].append((w.bench, w.steps))
    out = []
    for row in sorted(rows.values(), key=lambda r: r["key"]):
        secs = [sec_per_step.get(b) for b, _ in row["parts"]]
        known = all(s is not None for s in secs)
        pairs = zip(secs, row["parts"], strict=True)
        hours = sum(s * n for s, (_, n) in pairs) / 3600 if known else None
        kinds = {b for b, _ in row["parts"]}
        out.append(
            {
                "stage": row["w"].label,
                "jobs": len(row["jobs"]),
                "steps": sum(n for _, n in row["parts"]),
                "s_per_step": sec_per_step.get(kinds.pop()) if len(kinds) == 1 else None,
                "hours": hours,
                "optional": row["w"].optional,
            }
        )
    return out


def job_hours(
    work: Sequence[Work], sec_per_step: Mapping[str, float | None], optional: bool = False
) -> dict[str, tuple[int, float]]:
    """``job: (phase, hours)``, with the optional extension epochs when ``optional``; raises
    ``KeyError`` naming a step that was not measured."""
    out: dict[str, tuple[int, float]] = {}
    for w in work:
        if w.optional and not optional:
            continue
        sec = sec_per_step.get(w.bench)
        if sec is None:
            raise KeyError(w.bench)
        phase, hours = out.get(w.job, (w.phase, 0.0))
        out[w.job] = (phase, hours + w.steps * sec / 3600)
    return out


def lpt_makespan(times: Sequence[float], n: int) -> float:
    """The finishing time of ``times`` (independent jobs) on ``n`` identical devices, longest
    job first onto the device that frees up first (LPT list scheduling, within 4/3 of optimal)."""
    loads = [0.0] * n
    for t in sorted(times, reverse=True):
        loads[loads.index(min(loads))] += t
    return max(loads)


def makespan_hours(jobs: Mapping[str, tuple[int, float]], n: int) -> float:
    """Hours of the whole profile on ``n`` devices under Snakemake, one job per device
    (``resources: gpu=1``): the phases (patch rows, whole-image rows, Table 4 cells) run one
    after the other, as a barrier (a whole-image row waits for its patch classifier, a Table 4
    cell for the ensemble's choice of members, which needs every row), and the jobs of a phase
    are spread over the devices by :func:`lpt_makespan`. Data loading, scoring and bookkeeping
    jobs between them are not counted, nor jobs sharing a host's CPUs or disk."""
    phases = sorted({p for p, _ in jobs.values()})
    return sum(lpt_makespan([h for p, h in jobs.values() if p == phase], n) for phase in phases)


def gpu_estimates(
    work: Sequence[Work],
    sec_per_step: Mapping[str, float | None],
    counts: Sequence[int] = GPU_COUNTS,
) -> dict[str, Any]:
    """Total hours on one device and the makespan on each of ``counts`` devices, without and with
    the at-most extension; ``{"missing": bench}`` when a needed step was not measured."""
    try:
        base, full = job_hours(work, sec_per_step), job_hours(work, sec_per_step, optional=True)
    except KeyError as exc:
        return {"missing": exc.args[0]}
    return {
        "total_hours": sum(h for _, h in base.values()),
        "total_hours_with_extension": sum(h for _, h in full.values()),
        "jobs": len(base),
        "makespan_hours": {n: makespan_hours(base, n) for n in counts},
        "makespan_hours_with_extension": {n: makespan_hours(full, n) for n in counts},
    }


# --- measurement ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """What every measurement shares: device, sizes, batch sizes and the profile's choices."""

    device: str
    image_size: tuple[int, int]
    patch_size: int
    warmup: int
    steps: int
    config: Mapping[str, Any] = field(repr=False)


@dataclass
class Measurement:
    """One step kind under one variant."""

    bench: str
    variant: str
    batch: int
    s_per_step: float
    s_per_step_median: float
    images_per_s: float
    data_wait_share: float
    peak_mib: float
    build_s: float


class TimedBatches:
    """Exactly ``warmup + steps`` batches of a loader (epochs cycled), timing how long each of
    the timed ones kept the caller blocked; the timed window starts after the warm-up batches'
    work (a device sync) and ends at :meth:`stop`."""

    def __init__(self, loader: Any, warmup: int, steps: int, device: Any) -> None:
        self.loader, self.warmup, self.steps, self.device = loader, warmup, steps, device
        self.waits: list[float] = []
        self.arrivals: list[float] = []
        self.start = self.end = 0.0

    def __iter__(self) -> Iterator[Any]:
        from e2e_mammo.data import set_epoch

        epoch, it = 0, iter(self.loader)
        for i in range(self.warmup + self.steps):
            if i == self.warmup:
                _sync(self.device)
                self.start = time.perf_counter()
            asked = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                epoch += 1
                set_epoch(self.loader, epoch)
                it = iter(self.loader)
                batch = next(it)
            if i >= self.warmup:
                self.arrivals.append(time.perf_counter())
                self.waits.append(self.arrivals[-1] - asked)
            yield batch

    def stop(self) -> float:
        """End the timed window (after a device sync); its seconds."""
        _sync(self.device)
        self.end = time.perf_counter()
        return self.end - self.start

    def step_times(self) -> list[float]:
        """Seconds between successive batch arrivals, the last one to :meth:`stop`."""
        marks = [*self.arrivals, self.end]
        return [b - a for a, b in zip([self.start, *marks[1:-1]], marks[1:], strict=True)]


def _sync(device: Any) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def write_images(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    """``n`` synthetic 16-bit mammograms (film profile, one mass each) as PNGs of ``size``."""
    import cv2
    import numpy as np

    from e2e_mammo.datasets.synth.phantom import Finding, render_mammogram

    rng, paths = np.random.default_rng(0), []
    for i in range(n):
        finding = Finding("mass" if i % 2 else "calc", bool(i % 3))
        image = render_mammogram(size, "LR"[i % 2], ("CC", "MLO")[i % 2], 2, [finding], rng).image
        paths.append(folder / f"{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    return paths


def write_patches(folder: Path, images: Sequence[Path], n: int, side: int) -> Path:
    """A (n, side, side) uint16 ``.npy`` of random crops of ``images`` (as the patch stage
    writes its arrays)."""
    import numpy as np

    from e2e_mammo.data import read_png16

    rng, decoded = np.random.default_rng(1), [read_png16(p) for p in images]
    patches = np.empty((n, side, side), np.uint16)
    for i in range(n):
        image = decoded[i % len(decoded)]
        r, c = (int(rng.integers(0, d - side + 1)) for d in image.shape)
        patches[i] = image[r : r + side, c : c + side]
    np.save(folder / "train.npy", patches)
    return folder / "train.npy"


def make_loaders(setup: Setup, folder: Path, workers: int) -> dict[str, Any]:
    """The real loaders over synthetic files in ``folder``: ``patches`` (memory-mapped array,
    no workers), ``images`` (PNGs, ``workers`` processes: training and validation) and
    ``images-main`` (PNGs decoded in the main process: the final scoring)."""
    import numpy as np

    from e2e_mammo.data import PatchArrayDataset, WholeImageDataset, make_loader

    cfg = setup.config
    pbs, wbs = int(cfg["patch_training"]["batch_size"]), int(cfg["whole_image"]["batch_size"])
    n_images = max(8, min(32, wbs * (setup.warmup + setup.steps)))
    paths = write_images(folder, n_images, setup.image_size)
    n_patches = pbs * max(2, min(8, setup.warmup + setup.steps))
    array = np.load(write_patches(folder, paths, n_patches, setup.patch_size), mmap_mode="r")
    patches = PatchArrayDataset(array, np.arange(n_patches) % 5)
    images = WholeImageDataset(paths, np.arange(len(paths)) % 2, setup.image_size)
    return {
        "patches": make_loader(patches, pbs, shuffle=True, seed=0, drop_single=True),
        "images": make_loader(images, wbs, shuffle=True, seed=0, workers=workers, drop_single=True),
        "images-main": make_loader(images, wbs, shuffle=True, seed=0, drop_single=True),
    }


def build_model(setup: Setup, bench: str) -> Any:
    """The random-init model a step kind trains: a patch classifier, or a whole-image
    classifier on one with :data:`DEFAULT_TOP`."""
    import torch

    from e2e_mammo.models.patch_classifier import build_patch_classifier
    from e2e_mammo.models.whole_image import build_whole_image_classifier

    group, arch, _ = bench.split("/")
    torch.manual_seed(0)
    model = build_patch_classifier(arch, mean=52.18)
    if group == "patch":
        return model
    w = setup.config["whole_image"]
    whole = build_whole_image_classifier(
        model,
        arch,
        DEFAULT_TOP,
        setup.image_size,
        setup.patch_size,
        heatmap_activation=w["heatmap_activation"],
    )
    whole.activation_checkpointing = bool(w["activation_checkpointing"])
    return whole


def _optimizer(setup: Setup, bench: str, model: Any) -> Any:
    """The stage's Adam as ``fit`` makes it: ``apply_stage`` on the trainable part; whole-image
    and fine-tuning steps decay the new top layers' kernels (``decay: head_kernels``)."""
    from e2e_mammo.plan.schedules import Stage
    from e2e_mammo.training.staged import KERAS_L2_FACTOR, apply_stage, head_kernels, make_optimizer

    group, arch, mode = bench.split("/")
    decay = 0.0 if group == "patch" else 1e-3  # the patch schedules have none
    stage = Stage(mode, 1, 1e-5, mode.removeprefix("train-"), decay)
    top = setup.config["patch_training"]["top_blocks"].get(arch, []) if group == "patch" else []
    params = apply_stage(model, stage, top)
    if group == "patch" or setup.config["whole_image"]["decay"] != "head_kernels":
        return make_optimizer(params, stage)
    return make_optimizer(params, stage, head_kernels(model), KERAS_L2_FACTOR)


def _fixed_bn(setup: Setup, bench: str) -> tuple[str, ...]:
    """The submodules whose batch norm keeps its statistics: the patch layers of whole-image
    steps with ``patch_bn: fixed`` (fine-tuning: ``transfer.patch_bn`` first)."""
    group = bench.split("/")[0]
    cfg = setup.config
    if group == "patch":
        return ()
    bn = cfg["transfer"].get("patch_bn") if group == "transfer" else None
    return ("backbone",) if (bn or cfg["whole_image"]["patch_bn"]) == "fixed" else ()


def run_steps(setup: Setup, bench: str, variant: str, model: Any, loader: Any) -> TimedBatches:
    """``warmup + steps`` batches of the real training loop or scorer; the timed batches."""
    import torch

    from e2e_mammo.data.augment import AugmentConfig
    from e2e_mammo.training.loop import EpochSettings, evaluate, train_one_epoch

    amp, cl = VARIANTS[variant]
    batches = TimedBatches(loader, setup.warmup, setup.steps, setup.device)
    mode = bench.split("/")[2]
    if mode in ("eval", "tta"):
        evaluate(model, batches, device=setup.device, tta=mode == "tta", channels_last=cl, amp=amp)
    else:
        augment = AugmentConfig.from_dict(setup.config["patch_training"]["augment"])
        settings = EpochSettings(
            augment=augment, channels_last=cl, amp=amp, fixed_bn_stats=_fixed_bn(setup, bench)
        )
        optimizer = _optimizer(setup, bench, model)
        generator = torch.Generator().manual_seed(0)
        train_one_epoch(model, batches, optimizer, setup.device, generator, settings)
    batches.stop()
    return batches


def measure(setup: Setup, bench: str, variant: str, loaders: Mapping[str, Any]) -> Measurement:
    """Build the model on the device, run :func:`run_steps`, and summarise the timed steps."""
    import torch

    t0 = time.perf_counter()
    model = build_model(setup, bench)
    cuda = torch.device(setup.device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(setup.device)
    else:
        reset_peak_rss()
    model.to(setup.device)
    if VARIANTS[variant][1]:
        model.to(memory_format=torch.channels_last)
    build_s = time.perf_counter() - t0
    group, _, mode = bench.split("/")
    kind = "patches" if group == "patch" else ("images-main" if mode == "tta" else "images")
    loader = loaders[kind]
    batches = run_steps(setup, bench, variant, model, loader)
    peak = torch.cuda.max_memory_allocated(setup.device) if cuda else peak_rss()
    total = batches.end - batches.start
    bs = loader.batch_sampler.batch_size
    del model
    _release(cuda)
    return Measurement(
        bench=bench,
        variant=variant,
        batch=bs,
        s_per_step=total / setup.steps,
        s_per_step_median=statistics.median(batches.step_times()),
        images_per_s=bs * setup.steps / total,
        data_wait_share=sum(batches.waits) / total,
        peak_mib=peak / MIB,
        build_s=build_s,
    )


def _release(cuda: bool) -> None:
    import torch

    gc.collect()
    if cuda:
        torch.cuda.empty_cache()


def measure_all(
    setup: Setup, benches: Sequence[str], variants: Sequence[str], workers: int, budget_s: float
) -> tuple[list[Measurement], list[str]]:
    """Every bench under every variant (variant by variant), until ``budget_s`` seconds have
    passed since the start (the time guard); the measurements and what was skipped."""
    done, skipped, start = [], [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="paper_scale_") as tmp:
        loaders = make_loaders(setup, Path(tmp), workers)
        print(f"data written in {time.perf_counter() - start:.1f} s", flush=True)
        for variant in variants:
            for bench in benches:
                if time.perf_counter() - start > budget_s:
                    skipped.append(f"{bench} {variant}")
                    continue
                m = measure(setup, bench, variant, loaders)
                done.append(m)
                print(
                    f"  {bench:<28} {variant:<8} {m.s_per_step:8.4f} s/step "
                    f"{m.images_per_s:8.1f} img/s wait {100 * m.data_wait_share:5.1f} % "
                    f"peak {m.peak_mib:8.0f} MiB",
                    flush=True,
                )
    return done, skipped


# --- report -----------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown_measurements(ms: Sequence[Measurement], cuda: bool) -> str:
    """The measured steps as a markdown table."""
    memory = "peak GPU MiB (max_memory_allocated)" if cuda else "peak process RSS MiB"
    lines = [
        "| step | variant | batch | s/step (mean) | s/step (median) | images/s | data wait "
        f"| {memory} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in ms:
        lines.append(
            f"| {m.bench} | {m.variant} | {m.batch} | {m.s_per_step:.4f} "
            f"| {m.s_per_step_median:.4f} | {m.images_per_s:.1f} "
            f"| {100 * m.data_wait_share:.1f} % | {m.peak_mib:,.0f} |"
        )
    return "\n".join(lines)


def markdown_stages(work: Sequence[Work], per_variant: Mapping[str, Mapping[str, float]]) -> str:
    """Stage, jobs, steps, then s/step and hours per variant, and the totals."""
    variants = list(per_variant)
    head = (
        "| stage | jobs | steps | " + " | ".join(f"{v} s/step | {v} hours" for v in variants) + " |"
    )
    lines = [head, "|---|---|---|" + "---|---|" * len(variants)]
    tables = {v: stage_rows(work, per_variant[v]) for v in variants}
    for i, row in enumerate(tables[variants[0]] if variants else []):
        cells = [
            f"{_fmt(tables[v][i]['s_per_step'], '.4f')} | {_fmt(tables[v][i]['hours'], ',.2f')}"
            for v in variants
        ]
        stage = row["stage"] + (" (not in the total)" if row["optional"] else "")
        lines.append(f"| {stage} | {row['jobs']} | {row['steps']:,} | " + " | ".join(cells) + " |")
    estimates = {v: gpu_estimates(work, per_variant[v]) for v in variants}
    for key, name in (
        ("total_hours", "total"),
        ("total_hours_with_extension", "total with every extension"),
    ):
        cells = [f"| {_fmt(estimates[v].get(key), ',.1f')}" for v in variants]
        lines.append(f"| **{name}** | | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_devices(estimate: Mapping[str, Any], variant: str) -> str:
    """The whole profile's hours on N devices (:func:`makespan_hours`)."""
    if "missing" in estimate:
        return f"(no N-device estimate for {variant}: {estimate['missing']} was not measured)"
    lines = ["| devices | hours | hours with every extension |", "|---|---|---|"]
    for n, hours in estimate["makespan_hours"].items():
        lines.append(
            f"| {n} | {hours:,.1f} | {estimate['makespan_hours_with_extension'][n]:,.1f} |"
        )
    return "\n".join(lines)


def per_variant_seconds(ms: Sequence[Measurement]) -> dict[str, dict[str, float]]:
    """``variant: {bench: mean s/step}``."""
    out: dict[str, dict[str, float]] = {}
    for m in ms:
        out.setdefault(m.variant, {})[m.bench] = m.s_per_step
    return out


# --- command line -----------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options (see the module doc)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1")
    ap.add_argument(
        "--steps", type=int, default=None, help="timed steps per measurement (20; --quick 2)"
    )
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (3; --quick 1)")
    ap.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help="default: all on CUDA; fp32 fp32+cl on CPU (autocast is CUDA-only)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        default=None,
        help="measure only the steps whose name holds one of these (resnet50, patch/, /tta)",
    )
    ap.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="image size (default: the profile's convert.size; --quick 256 192)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="image loader workers (default: whole_image.workers, at most the CPUs)",
    )
    ap.add_argument(
        "--budget-s",
        type=float,
        default=420.0,
        help="stop starting measurements after this many seconds (420)",
    )
    ap.add_argument("--quick", action="store_true", help="256x192, 1 + 2 steps: a smoke test")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    args.steps = args.steps or (2 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    if args.quick and args.size is None:
        args.size = [256, 192]
    return args


def resolve_device(name: str) -> str:
    """``auto``: ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def make_setup(args: argparse.Namespace, config: Mapping[str, Any], device: str) -> Setup:
    """Sizes from the profile (``convert.size``, the patch side scaled to it) or ``--size``."""
    from e2e_mammo.plan.sizes import scaled_patch_size

    size = tuple(args.size or config["convert"]["size"])
    p = config["patches"]
    side = scaled_patch_size(p["size"], size[0], p["reference_height"])
    return Setup(device, (int(size[0]), int(size[1])), side, args.warmup, args.steps, config)


def machine(device: str) -> str:
    """The device in words."""
    import torch

    if torch.device(device).type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    from reference import cpu_model  # bench/reference.py

    threads = torch.get_num_threads()
    return f"{cpu_model()} ({os.cpu_count()} CPUs), torch {torch.__version__}, {threads} threads"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure, extrapolate, print the markdown, write the JSON; returns the JSON's content."""
    import torch

    args = parse_args(argv)
    config = load_profile()
    device = resolve_device(args.device)
    cuda = torch.device(device).type == "cuda"
    torch.set_num_threads(os.cpu_count() or 1)
    variants = args.variants or (list(VARIANTS) if cuda else list(CPU_DEFAULT_VARIANTS))
    work = paper_work(config)
    benches = sorted(
        {w.bench for w in work if not args.only or any(o in w.bench for o in args.only)},
        key=_bench_order,
    )
    if not cuda and any(VARIANTS[v][0] for v in variants):
        print("note: the loops use bf16 autocast on CUDA only; on the CPU bf16 variants run fp32")
    workers = (
        args.workers
        if args.workers is not None
        else min(int(config["whole_image"]["workers"]), os.cpu_count() or 1)
    )
    setup = make_setup(args, config, device)
    print(f"# Paper-scale cost on {machine(device)}", flush=True)
    print(
        f"images {setup.image_size}, patches {setup.patch_size}, {args.warmup} warm-up + "
        f"{args.steps} timed steps, variants {variants}, {workers} image loader workers",
        flush=True,
    )
    ms, skipped = measure_all(setup, benches, variants, workers, args.budget_s)
    return report(args, setup, work, ms, skipped, machine(device))


def _bench_order(bench: str) -> tuple[int, str]:
    return ({"patch": 0, "whole": 1, "transfer": 2}[bench.split("/")[0]], bench)


def report(
    args: argparse.Namespace,
    setup: Setup,
    work: Sequence[Work],
    ms: Sequence[Measurement],
    skipped: Sequence[str],
    device_words: str,
) -> dict[str, Any]:
    """Print the three tables and write (and return) the JSON."""
    cuda = setup.device.startswith("cuda")
    per_variant = per_variant_seconds(ms)
    print("\n## Measured steps\n\n" + markdown_measurements(ms, cuda))
    print(
        "\n## Extrapolated to the paper profile on this device\n\n"
        + markdown_stages(work, per_variant)
    )
    estimates = {v: gpu_estimates(work, s) for v, s in per_variant.items()}
    for v in per_variant:
        print(f"\n## On N devices under Snakemake ({v})\n\n" + markdown_devices(estimates[v], v))
    print("\nAssumptions:\n" + "\n".join(f"- {a}" for a in ASSUMPTIONS))
    if skipped:
        print(f"\nskipped by the time guard (--budget-s {args.budget_s:g}): {', '.join(skipped)}")
    result = {
        "date": datetime.date.today().isoformat(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "device": device_words,
        "platform": platform.platform(),
        "setup": {k: v for k, v in asdict(setup).items() if k != "config"},
        "data_sizes": asdict(data_sizes(setup.config)),
        "measurements": [asdict(m) for m in ms],
        "skipped": list(skipped),
        "stages": {v: stage_rows(work, s) for v, s in per_variant.items()},
        "estimates": estimates,
        "assumptions": list(ASSUMPTIONS),
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten: {args.out}")
    return result


if __name__ == "__main__":
    main()
