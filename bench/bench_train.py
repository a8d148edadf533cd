"""Training-loop throughput: ``train_one_epoch`` from a loader vs a bare loop over tensors.

Both loops train the same model on the same samples, in the same process, interleaved:

* bare: batches already in memory as float tensors on the 0-255 scale, plain forward /
  cross-entropy / backward / Adam step; no loading, no augmentation, no balancing;
* ours: :func:`e2e_mammo.training.loop.train_one_epoch` reading ``(x, y, index)`` batches
  from :func:`e2e_mammo.data.make_loader`, with 16-bit -> 0-255 scaling, the paper's batched
  random affine + intensity shift + flips, and per-batch balanced sample weights.

``--data patches``: a memory-mapped uint16 ``.npy`` patch array (as the patch stage writes),
read one batch per fancy-indexing call (no workers). ``--data images``: whole 16-bit PNGs
decoded by ``--workers`` loader processes (as the whole-image stages will read them).

Prints images/s of both, their ratio (goal >= 0.9 on CPU) and the data preparation share.

    .venv/bin/python bench/bench_train.py --data patches
    .venv/bin/python bench/bench_train.py --data images --workers 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.data import PatchArrayDataset, WholeImageDataset, make_loader
from e2e_mammo.data.augment import AugmentConfig
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.plan.schedules import Stage
from e2e_mammo.training.loop import EpochSettings, train_one_epoch
from e2e_mammo.training.staged import apply_stage, make_optimizer


def bare_epoch(model, batches, optimizer) -> None:
    model.train()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def make_dataset(kind: str, n: int, shape: tuple[int, int], folder: Path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 65536, (n, *shape), dtype=np.uint16)
    labels = np.arange(n) % (5 if kind == "patches" else 2)
    if kind == "patches":
        np.save(folder / "train.npy", images)
        return PatchArrayDataset(np.load(folder / "train.npy", mmap_mode="r"), labels), images
    paths = []
    for i, image in enumerate(images):
        paths.append(folder / f"{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    return WholeImageDataset(paths, labels), images


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=["patches", "images"], default="patches")
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--size", type=int, nargs=2, default=None, help="H W (patches 56 56)")
    ap.add_argument("--batch", type=int, default=None, help="patches 32, images 4")
    ap.add_argument("--batches", type=int, default=6, help="timed batches per epoch")
    ap.add_argument("--workers", type=int, default=None, help="patches 0, images 2")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timed epochs per loop")
    args = ap.parse_args()
    patches = args.data == "patches"
    args.size = tuple(args.size or ((56, 56) if patches else (256, 192)))
    args.batch = args.batch or (32 if patches else 4)
    args.workers = args.workers if args.workers is not None else (0 if patches else 2)
    return args


def main() -> None:
    args = parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    n = args.batch * args.batches
    with tempfile.TemporaryDirectory() as tmp:
        dataset, images = make_dataset(args.data, n, args.size, Path(tmp))
        labels = torch.from_numpy(dataset.labels)
        model = build_patch_classifier(args.arch, mean=52.18)
        stage = Stage("all", 1, 1e-4, "all")
        params = apply_stage(model, stage, [])
        opt_bare, opt_ours = make_optimizer(params, stage), make_optimizer(params, stage)
        floats = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) * RESCALE_16BIT
        batches = [
            (floats[i : i + args.batch], labels[i : i + args.batch])
            for i in range(0, n, args.batch)
        ]
        loader = make_loader(dataset, args.batch, shuffle=True, seed=0, workers=args.workers)

        def ours(epoch: int, timings=None) -> None:
            loader.batch_sampler.set_epoch(epoch)
            train_one_epoch(
                model,
                loader,
                optimizer=opt_ours,
                device="cpu",
                generator=torch.Generator().manual_seed(epoch),
                settings=EpochSettings(augment=AugmentConfig()),
                timings=timings,
            )

        bare_epoch(model, batches[:2], opt_bare)  # warm-up (and worker start-up)
        ours(0)
        t_bare, t_ours, shares = [], [], []
        for r in range(args.repeats):
            t = time.perf_counter()
            bare_epoch(model, batches, opt_bare)
            t_bare.append(time.perf_counter() - t)
            timings: dict[str, float] = {}
            t = time.perf_counter()
            ours(r + 1, timings)
            t_ours.append(time.perf_counter() - t)
            shares.append(timings["data_s"] / (timings["data_s"] + timings["step_s"]))
    report(args, n, t_bare, t_ours, shares)


def report(args, n, t_bare, t_ours, shares) -> None:
    ips_bare, ips_ours = n / min(t_bare), n / min(t_ours)
    h, w = args.size
    print(
        f"{args.data}: {args.arch} {h}x{w} batch {args.batch}, {args.batches} batches x "
        f"{args.repeats} repeats, {args.workers} loader workers, {torch.get_num_threads()} threads"
    )
    print(f"bare loop over tensors in memory:     {ips_bare:8.1f} images/s (best)")
    print(f"train_one_epoch from the loader:      {ips_ours:8.1f} images/s (best)")
    pair = statistics.median(b / o for b, o in zip(t_bare, t_ours, strict=True))
    print(f"ratio ours/bare:                      {ips_ours / ips_bare:8.3f} (best vs best)")
    print(f"ratio ours/bare, median of pairs:     {pair:8.3f}")
    print(f"data preparation share of ours:       {100 * statistics.median(shares):7.1f} %")


if __name__ == "__main__":
    main()
