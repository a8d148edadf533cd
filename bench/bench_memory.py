"""Peak memory of whole-image training steps: activation checkpointing off vs on.

The same model and step with ``WholeImageClassifier.activation_checkpointing`` False and True,
each configuration in a fresh Python process (this script re-run with a hidden ``--child``
flag, so neither run inherits the other's allocator state or peak):

* model: ResNet50 patch layers (random init) + the top ``{"type": "resnet", "blocks": [[512,
  512, 1024, 2], [512, 512, 1024, 2]]}`` (Table 2's "[512-512-1024] x 2"), at the paper's
  1152x896, batch 2;
* stage 2 of the whole-image schedule: every layer trainable (``apply_stage`` ``"all"``), Adam
  at 1e-5 with weight decay on the top's kernels (``make_optimizer``), training mode with the
  patch layers' batch norms on fixed statistics (``patch_bn: fixed``, as ``params.yaml``);
* one step = zero_grad, forward, balanced cross-entropy, backward, Adam step. ``--steps``
  (default 2) steps are run and the peak is over all of them: the first step allocates Adam's
  state after its backward pass, the second one starts with it (the steady state of an epoch).
  The step time printed is the last step's.

CPU: the child's peak resident set (``getrusage(RUSAGE_SELF).ru_maxrss``, after the steps),
absolute and minus its resident set right before the first forward (model, optimizer and batch
already built). On Linux the peak is reset (``/proc/self/clear_refs``) just before the first
forward, so imports and model building do not count; where that is not allowed the absolute
peak may include them and a note says so.

CUDA (``--device cuda``, or ``auto`` when a GPU is there): ``torch.cuda.max_memory_allocated``
after ``reset_peak_memory_stats`` before the first forward, absolute and minus the memory
allocated then; ``--amp`` (bf16 autocast) and ``--channels-last`` as in the training loop.

Prints config, peak memory (MiB), step seconds and the ratios checkpointing on/off.

    .venv/bin/python bench/bench_memory.py             # 1152x896, batch 2, CPU (or CUDA)
    .venv/bin/python bench/bench_memory.py --quick     # 128x96 (a smoke test)
    .venv/bin/python bench/bench_memory.py --device cuda --amp --channels-last
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext

from process_memory import current_rss, peak_rss, reset_peak_rss  # bench/process_memory.py

MIB = 2**20
DEFAULT_TOP = {"type": "resnet", "blocks": [[512, 512, 1024, 2], [512, 512, 1024, 2]]}
PATCH_SIZE = 224  # only matters to tops with a heatmap
RESULT = "RESULT "


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--top", type=json.loads, default=DEFAULT_TOP, help="top layers, JSON")
    ap.add_argument("--size", type=int, nargs=2, default=None, help="H W (default 1152 896)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2, help="training steps per configuration")
    ap.add_argument("--patch-bn", choices=["fixed", "train"], default="fixed")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    ap.add_argument("--channels-last", action="store_true", help="(CUDA only)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true", help="128x96 (a smoke test)")
    ap.add_argument("--child", type=int, choices=[0, 1], default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.size = tuple(args.size or ((128, 96) if args.quick else (1152, 896)))
    return args


# ---------------------------------------------------------------- child: one configuration


def child(args: argparse.Namespace) -> dict:
    import torch
    import torch.nn.functional as F

    from e2e_mammo.models.patch_classifier import build_patch_classifier
    from e2e_mammo.models.whole_image import build_whole_image_classifier
    from e2e_mammo.plan.schedules import Stage
    from e2e_mammo.training.loop import balanced_sample_weights
    from e2e_mammo.training.staged import (
        KERAS_L2_FACTOR,
        apply_stage,
        freeze_frozen_batchnorm,
        head_kernels,
        make_optimizer,
    )

    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    patch = build_patch_classifier(args.arch, mean=52.18)
    model = build_whole_image_classifier(patch, args.arch, args.top, args.size, PATCH_SIZE)
    del patch
    model = model.to(dev)
    if cuda and args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.activation_checkpointing = bool(args.child)
    stage = Stage("all_layers", 1, 1e-5, "all", weight_decay=1e-2)
    params = apply_stage(model, stage, [])
    opt = make_optimizer(params, stage, decayed=head_kernels(model), decay_factor=KERAS_L2_FACTOR)
    model.train()
    freeze_frozen_batchnorm(model, ("backbone",) if args.patch_bn == "fixed" else ())
    x = (torch.rand(args.batch, 1, *args.size) * 255.0).to(dev)
    if cuda and args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = (torch.arange(args.batch) % 2).to(dev)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda and args.amp else nullcontext()

    gc.collect()
    out: dict = {"checkpointing": bool(args.child), "device": str(dev)}
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        out["device_name"] = torch.cuda.get_device_name(dev)
    else:
        before = current_rss() or peak_rss()
        out["peak_reset"] = reset_peak_rss()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast:
            logits = model(x)
        per_sample = F.cross_entropy(logits.float(), y, reduction="none")
        loss = (per_sample * balanced_sample_weights(y, logits.shape[1])).mean()
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t)
        del logits, per_sample, loss
    if cuda:
        peak = torch.cuda.max_memory_allocated(dev)
        out["reserved_mib"] = torch.cuda.max_memory_reserved(dev) / MIB
    else:
        peak = peak_rss()
    out.update(
        before_mib=before / MIB,
        peak_mib=peak / MIB,
        delta_mib=(peak - before) / MIB,
        step_s=times[-1],
        step_times=times,
    )
    return out


# ---------------------------------------------------------------- parent: both configurations


def run_child(args: argparse.Namespace, checkpointing: bool) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--arch", args.arch]
    cmd += ["--top", json.dumps(args.top), "--size", *map(str, args.size)]
    cmd += ["--batch", str(args.batch), "--steps", str(args.steps), "--patch-bn", args.patch_bn]
    cmd += ["--device", args.device, "--threads", str(args.threads)]
    cmd += ["--amp"] * args.amp + ["--channels-last"] * args.channels_last
    cmd += ["--child", str(int(checkpointing))]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    raise RuntimeError(f"no result from {' '.join(cmd)}:\n{proc.stdout}")


def resolve_device(args: argparse.Namespace) -> str:
    import torch

    if args.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device available")
    return args.device


def report(args: argparse.Namespace, results: list[dict]) -> None:
    h, w = args.size
    cuda = args.device == "cuda"
    flags = (("bf16 autocast", args.amp), ("channels-last", args.channels_last))
    extras = [name for name, on in flags if on]
    where = results[0].get("device_name", "GPU") if cuda else f"CPU, {args.threads} threads"
    print(
        f"one training step (stage 2, all layers, Adam): {args.arch} + {json.dumps(args.top)} "
        f"{h}x{w}, batch {args.batch}, {args.steps} steps, patch BN {args.patch_bn}, {where}"
        + (f", {', '.join(extras)}" if cuda and extras else "")
    )
    if not cuda and (args.amp or args.channels_last):
        print("(--amp and --channels-last apply on CUDA only; ignored on CPU)")
    what = "max_memory_allocated" if cuda else "peak RSS (ru_maxrss)"
    print(f"{'config':<18} {'peak - before (MiB)':>20} {what + ' (MiB)':>30} {'step (s)':>10}")
    for r in results:
        name = f"checkpointing {'on' if r['checkpointing'] else 'off'}"
        print(f"{name:<18} {r['delta_mib']:>20.0f} {r['peak_mib']:>30.0f} {r['step_s']:>10.2f}")
    off, on = results
    print(f"ratio on/off, peak - before:   {on['delta_mib'] / off['delta_mib']:6.3f}")
    print(f"ratio on/off, absolute peak:   {on['peak_mib'] / off['peak_mib']:6.3f}")
    print(f"ratio on/off, step seconds:    {on['step_s'] / off['step_s']:6.3f}")
    if cuda:
        reserved = ", ".join(f"{r['reserved_mib']:.0f}" for r in results)
        print(f"max_memory_reserved off, on (MiB): {reserved}")
    elif not all(r.get("peak_reset") for r in results):
        print("note: could not reset the peak RSS; it may include imports and model building")


def main() -> None:
    args = parse_args()
    if args.child is not None:
        print(RESULT + json.dumps(child(args)), flush=True)
        return
    args.device = resolve_device(args)
    results = [run_child(args, checkpointing) for checkpointing in (False, True)]
    report(args, results)


if __name__ == "__main__":
    main()
