"""Training-loop throughput: ``train_one_epoch`` (augmentation + balancing) vs a bare loop.

Both loops train the same model on the same batches, in the same process, interleaved:

* bare: the batches already in memory as float tensors (scaled, mean subtracted), plain
  forward / cross-entropy / backward / Adam step, no augmentation, no balancing;
* ours: :func:`e2e_mammo.training.loop.train_one_epoch` on the uint16 images (indexing,
  16-bit -> 0-255 scaling, batched random affine + intensity shift + flips, mean subtraction,
  per-batch balanced sample weights).

Prints images/s of both, their ratio (goal >= 0.9 on CPU) and the share of ``train_one_epoch``'s
time spent preparing data (the "data loader's share").

    .venv/bin/python bench/bench_train.py [--arch resnet50] [--size 56] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from e2e_mammo.models import build_patch_classifier
from e2e_mammo.training import AugmentConfig, Stage, apply_stage, make_optimizer
from e2e_mammo.training.loop import RESCALE_16BIT, train_one_epoch

MEAN = 52.18


def bare_epoch(model, batches, optimizer, device) -> None:
    model.train()
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=6, help="timed batches per epoch")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up batches (each loop)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timed epochs per loop")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    torch.set_num_threads(os.cpu_count() or 1)
    device = torch.device(args.device)
    torch.manual_seed(0)
    n = args.batch * args.batches
    images = torch.randint(0, 65536, (n, 1, args.size, args.size), dtype=torch.int32)
    images = images.to(torch.uint16)
    labels = torch.randint(0, 5, (n,))
    model = build_patch_classifier(args.arch).to(device)
    stage = Stage("all", 1, 1e-4, "all")
    params = apply_stage(model, stage, [])
    opt_bare, opt_ours = make_optimizer(params, stage), make_optimizer(params, stage)
    floats = [
        (
            images[i : i + args.batch].float() * RESCALE_16BIT - MEAN,
            labels[i : i + args.batch],
        )
        for i in range(0, n, args.batch)
    ]
    aug = AugmentConfig()

    def ours(batches: int, seed: int, timings=None) -> None:
        m = batches * args.batch
        train_one_epoch(
            model,
            images[:m],
            labels[:m],
            optimizer=opt_ours,
            batch_size=args.batch,
            mean=MEAN,
            augment_cfg=aug,
            generator=torch.Generator().manual_seed(seed),
            device=device,
            timings=timings,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()

    bare_epoch(model, floats[: args.warmup], opt_bare, device)
    ours(args.warmup, 0)
    t_bare, t_ours, shares = [], [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        bare_epoch(model, floats, opt_bare, device)
        t_bare.append(time.perf_counter() - t)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        ours(args.batches, r + 1, timings)
        t_ours.append(time.perf_counter() - t)
        shares.append(timings["data_s"] / (timings["data_s"] + timings["step_s"]))
    ips_bare, ips_ours = n / min(t_bare), n / min(t_ours)
    print(
        f"{args.arch} {args.size}x{args.size} batch {args.batch}, {args.batches} batches x "
        f"{args.repeats} repeats, device {device}, {torch.get_num_threads()} threads"
    )
    print(f"bare loop (no augmentation):        {ips_bare:8.1f} images/s (best of {args.repeats})")
    print(f"train_one_epoch (augment, balance): {ips_ours:8.1f} images/s (best of {args.repeats})")
    pair = statistics.median(b / o for b, o in zip(t_bare, t_ours, strict=True))
    print(f"ratio ours/bare:                    {ips_ours / ips_bare:8.3f} (best vs best)")
    print(f"ratio ours/bare, median of pairs:   {pair:8.3f}")
    print(f"data preparation share of ours:     {100 * statistics.median(shares):7.1f} %")


if __name__ == "__main__":
    main()
