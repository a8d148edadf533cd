"""``e2e-mammo predict`` end to end vs the bare model's forward passes for the same work.

One synthetic 16-bit mammogram (3328x2560, the size of a full-field digital mammogram; written
as an uncompressed DICOM, or a PNG with ``--format png``) and one whole-image model bundle at the
paper's 1152x896 (ResNet50 patch layers + Table 2's "[512-512-1024] x 2" top, random init) are
made once. Then, interleaved in one process after one warm-up each (the order alternates):

* baseline: the bare model's forward passes for the same work: the already preprocessed image
  as a (1, 1, 1152, 896) tensor, its four flips stacked into one batch of 4, one
  ``model(...)`` call under ``torch.inference_mode``;
* ours: :func:`e2e_mammo.predict.run.predict` on the file with the loaded bundle: find, read
  (DICOM LUTs), resize, 4-flip TTA, heatmap, overlay PNG, the CSVs and ``summary.json`` (a
  fresh output folder each time, so nothing is resumed).

Loading the bundle is a fixed cost per ``predict`` call, whatever the number of images; it is
timed and printed separately. Prints the medians, the ratio ours/baseline (goal <= 1.3) and the
score of both (the same network: they should agree).

    .venv/bin/python bench/bench_predict.py            # 3328x2560 DICOM, 1152x896, 3 repeats
    .venv/bin/python bench/bench_predict.py --quick    # 832x640 -> 288x224, 1 repeat
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.datasets.synth.phantom import Finding, render_mammogram
from e2e_mammo.evaluation.tta import flip_views
from e2e_mammo.models.bundle import (
    heatmap_head,
    linear_head_entry,
    load_bundle,
    preprocess_record,
    provenance_record,
    save_bundle,
)
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.whole_image import build_whole_image_classifier, whole_image_spec
from e2e_mammo.predict.inputs import find_inputs, read_input
from e2e_mammo.predict.run import PredictOptions, predict

TOP = {"type": "resnet", "blocks": [[512, 512, 1024, 2], [512, 512, 1024, 2]]}
PATCH_SIZE = 224


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--format", choices=("dicom", "png"), default="dicom")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs of each (default 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true", help="832x640 image, 288x224 model, 1 run")
    args = ap.parse_args()
    args.image = (832, 640) if args.quick else (3328, 2560)
    args.size = (288, 224) if args.quick else (1152, 896)
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def make_image(folder: Path, shape: tuple[int, int], fmt: str) -> Path:
    """A film-profile 16-bit synthetic mammogram with a malignant mass, as DICOM or PNG."""
    rng = np.random.default_rng(0)
    image = render_mammogram(shape, "L", "CC", 2, [Finding("mass", True)], rng).image
    if fmt == "png":
        path = folder / "1_L_CC.png"
        cv2.imwrite(str(path), image)
        return path
    return write_dicom(folder / "1_L_CC.dcm", image, DicomHeader(patient_id="BENCH", modality="MG"))


def make_bundle(folder: Path, size: tuple[int, int], seed: int = 0) -> Path:
    """A random-init whole-image model bundle at ``size``, seeded."""
    torch.manual_seed(seed)
    patch = build_patch_classifier("resnet50", mean=52.18)
    model = build_whole_image_classifier(patch, "resnet50", TOP, size, PATCH_SIZE).eval()
    return save_bundle(
        folder / "model.pt",
        model,
        whole_image_spec("resnet50", TOP, size, PATCH_SIZE),
        preprocess=preprocess_record(size, "minmax", model),
        provenance=provenance_record(
            "bench", data="random init (bench)", settings={}, data_files={}, metrics={}
        ),
        heatmap=heatmap_head(model, linear_head_entry(patch.head, 7)),
    )


def run(args: argparse.Namespace, folder: Path) -> dict:
    image = make_image(folder, args.image, args.format)
    path = make_bundle(folder, args.size)
    t = time.perf_counter()
    bundle = load_bundle(path)
    load_s = time.perf_counter() - t
    model = bundle.members[0].model
    pixels = read_input(find_inputs([image]).images[0], bundle.preprocess).pixels
    x = torch.from_numpy(pixels.astype(np.float32))[None, None] * RESCALE_16BIT
    options = PredictOptions(device="cpu", progress=False)
    outs = iter(range(1_000_000))

    def baseline() -> float:
        with torch.inference_mode():
            logits = model(flip_views(x))
        return float(torch.softmax(logits, 1)[:, 1].mean())

    def ours() -> float:
        out = folder / f"out{next(outs)}"
        predict([image], out, bundle, options)
        score = float(
            np.loadtxt(out / "image_predictions.csv", delimiter=",", skiprows=1, usecols=5)
        )
        shutil.rmtree(out)
        return score

    runs = {"baseline": baseline, "ours": ours}
    scores = {name: fn() for name, fn in runs.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.repeat):
        for name in list(runs) if r % 2 == 0 else list(reversed(runs)):
            t = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t)
    return {
        "times": times,
        "scores": scores,
        "load_s": load_s,
        "file_mb": image.stat().st_size / 1e6,
    }


def report(args: argparse.Namespace, result: dict) -> None:
    times = result["times"]
    base, our = statistics.median(times["baseline"]), statistics.median(times["ours"])
    pairs = statistics.median(o / b for o, b in zip(times["ours"], times["baseline"], strict=True))
    (h, w), (ih, iw) = args.size, args.image
    print(
        f"predict: one {ih}x{iw} 16-bit {args.format.upper()} ({result['file_mb']:.1f} MB) -> "
        f"{h}x{w}, ResNet50 + [512-512-1024]x2, 4-flip TTA, {args.repeat} repeats, "
        f"{torch.get_num_threads()} threads, CPU"
    )
    print(f"baseline, bare forward passes (4 flips, 1 batch): {base:8.3f} s (median)")
    print(f"ours, predict() end to end:                       {our:8.3f} s (median)")
    print(f"ratio ours/baseline:                              {our / base:8.3f} (goal <= 1.3)")
    print(f"ratio ours/baseline, median of pairs:             {pairs:8.3f}")
    print(f"bundle load (once per predict call):              {result['load_s']:8.3f} s")
    scores = result["scores"]
    print(f"malignant score, baseline / ours:  {scores['baseline']:.6f} / {scores['ours']:.6f}")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        report(args, run(args, Path(tmp)))


if __name__ == "__main__":
    main()
