"""Flip-TTA scoring: ``flip_tta_probs`` (as the pipeline runs it) vs four bare forward passes.

All three score the same whole-image model (random init, eval mode, ``torch.inference_mode``) on the
same batch ``x`` of N grey images on the 0-255 scale, interleaved in the same process after one
warm-up run each (the order rotates from repeat to repeat):

* baseline: the same work done naively: four separate bare forward passes of the model on
  ``x``, ``x.flip(3)``, ``x.flip(2)`` and ``x.flip((2, 3))`` (N images each), then the softmax
  of each and their mean;
* ours: :func:`e2e_mammo.evaluation.tta.flip_tta_probs` (the four views as one batch of 4N or,
  on the CPU at :data:`~e2e_mammo.evaluation.tta.CPU_SPLIT_PIXELS` pixels or more, as four
  batches of N; softmax, mean);
* for reference, one batch: the four views always concatenated into one batch of 4N (what
  ``flip_tta_probs`` did before it split large images on the CPU).

Default model: ResNet50 patch layers + the top ``{"type": "resnet", "blocks": [[512, 512, 1024,
2], [512, 512, 1024, 2]]}`` (Table 2's "[512-512-1024] x 2") at the paper's 1152x896.

Prints the median seconds per image of each, the ratios ours/baseline (goal <= 1.1: TTA costs
no more than four plain forward passes) and one batch/baseline, and the largest absolute
difference between ours' and the baseline's averaged probabilities (the same function: float
rounding only, expected ~1e-6 or less).

    .venv/bin/python bench/bench_tta.py                 # 1152x896, batch 2, 3 repeats
    .venv/bin/python bench/bench_tta.py --quick         # 128x96, batch 2, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from e2e_mammo.evaluation.tta import flip_tta_probs, flip_views, one_pass_is_faster
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.whole_image import build_whole_image_classifier

DEFAULT_TOP = {"type": "resnet", "blocks": [[512, 512, 1024, 2], [512, 512, 1024, 2]]}
PATCH_SIZE = 224  # only matters to tops with a heatmap


def four_bare_passes(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The naive flip TTA: four forward passes of N images, softmax, mean -> (N, K)."""
    views = (x, x.flip(3), x.flip(2), x.flip((2, 3)))
    probs = [torch.softmax(model(v).float(), 1) for v in views]
    return torch.stack(probs).mean(0)


def ours(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return flip_tta_probs(model, x)[1]


def one_batch(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The four views always as one batch of 4N."""
    probs = torch.softmax(model(flip_views(x)).float(), 1)
    return probs.view(4, x.shape[0], -1).mean(0)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--top", type=json.loads, default=DEFAULT_TOP, help="top layers, JSON")
    ap.add_argument("--size", type=int, nargs=2, default=None, help="H W (default 1152 896)")
    ap.add_argument("--batch", type=int, default=2, help="N images (ours runs 4N at once)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs of each (default 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true", help="128x96, 1 repeat (a smoke test)")
    args = ap.parse_args()
    args.size = tuple(args.size or ((128, 96) if args.quick else (1152, 896)))
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    patch = build_patch_classifier(args.arch, mean=52.18)
    model = build_whole_image_classifier(patch, args.arch, args.top, args.size, PATCH_SIZE)
    model.eval()
    x = torch.rand(args.batch, 1, *args.size) * 255.0
    runs = {"baseline": four_bare_passes, "ours": ours, "one batch": one_batch}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.inference_mode():
        probs = {name: fn(model, x) for name, fn in runs.items()}  # warm-up, and the check
        for r in range(args.repeat):
            order = list(runs)[r % len(runs) :] + list(runs)[: r % len(runs)]
            for name in order:
                t = time.perf_counter()
                runs[name](model, x)
                times[name].append((time.perf_counter() - t) / args.batch)
    diff = float((probs["ours"] - probs["baseline"]).abs().max())
    report(args, times, diff)


def report(args, times: dict[str, list[float]], diff: float) -> None:
    h, w = args.size
    base, our = statistics.median(times["baseline"]), statistics.median(times["ours"])
    one = statistics.median(times["one batch"])
    pairs = statistics.median(o / b for o, b in zip(times["ours"], times["baseline"], strict=True))
    how = "one 4N pass" if one_pass_is_faster(torch.empty(1, 1, h, w)) else "four N passes"
    print(
        f"flip TTA: {args.arch} + {json.dumps(args.top)} {h}x{w}, batch {args.batch}, "
        f"{args.repeat} repeats, {torch.get_num_threads()} threads, CPU"
    )
    print(f"baseline, four bare forward passes:   {base:8.3f} s/image (median)")
    print(f"ours, flip_tta_probs ({how}): {our:8.3f} s/image (median)")
    print(f"one 4N batch, for reference:          {one:8.3f} s/image (median)")
    print(f"ratio ours/baseline:                  {our / base:8.3f} (goal <= 1.1)")
    print(f"ratio one batch/baseline:             {one / base:8.3f}")
    print(f"ratio ours/baseline, median of pairs: {pairs:8.3f}")
    print(f"max |probs ours - probs baseline|:    {diff:8.1e}")


if __name__ == "__main__":
    main()
