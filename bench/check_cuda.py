"""CUDA path check of the whole-image stage: ``fit`` and flip-TTA ``evaluate`` on a GPU.

Trains the paper's default whole-image model (ResNet50 patch layers + two [512-512-1024]x2
ResNet blocks, random weights) for the 2-stage schedule (1 epoch each) on random 16-bit images at
``--size`` (default the paper's 1152x896), batch 2, through the pipeline's own ``fit`` (bf16
autocast, channels_last, fixed patch batch norm, Keras-scale decay on the new kernels), then
scores with flip TTA. Prints per-epoch seconds, images/s, peak GPU memory, and that every loss
and probability is finite, for activation checkpointing off and on.

    python bench/check_cuda.py                # needs a CUDA device
    python bench/check_cuda.py --size 576 448 --images 16
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import Dataset

from e2e_mammo.data import make_loader
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.whole_image import build_whole_image_classifier
from e2e_mammo.plan.schedules import Stage
from e2e_mammo.training.fit import FitConfig, FitRun, fit
from e2e_mammo.training.loop import evaluate

TOP = {"type": "resnet", "blocks": [[512, 512, 1024, 2], [512, 512, 1024, 2]]}


class RandomImages(Dataset):
    """``n`` random uint16 images (1,H,W) with alternating labels, as the PNG dataset yields."""

    def __init__(self, n: int, size: tuple[int, int], seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.x = torch.from_numpy(rng.integers(0, 65535, (n, 1, *size), dtype=np.uint16))
        self.y = np.arange(n) % 2

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i]), i


def run(size: tuple[int, int], images: int, checkpointing: bool) -> dict:
    torch.manual_seed(0)
    patch = build_patch_classifier("resnet50", mean=52.0)
    model = build_whole_image_classifier(patch, "resnet50", TOP, size, round(224 * size[0] / 1152))
    model.activation_checkpointing = checkpointing
    cfg = FitConfig(
        schedule=(
            Stage("top_layers", 1, 1e-4, "head", 1e-3),
            Stage("all_layers", 1, 1e-5, "all", 1e-2),
        ),
        monitor="val_auc",
        decay="head_kernels",
        fixed_bn_stats=("backbone",),
        amp=True,
        channels_last=True,
    )
    train = make_loader(RandomImages(images, size, 1), 2, shuffle=True, seed=0, drop_single=True)
    val = make_loader(RandomImages(4, size, 2), 2, shuffle=False)
    torch.cuda.reset_peak_memory_stats()
    epochs: list[float] = []
    start = time.perf_counter()

    def on_epoch(record: dict) -> None:
        torch.cuda.synchronize()
        epochs.append(time.perf_counter() - start - sum(epochs))
        assert math.isfinite(record["train_loss"]), record

    with tempfile.TemporaryDirectory() as folder:
        fit(
            model,
            train,
            val,
            cfg,
            FitRun(checkpoint_dir=folder, identity="cuda-check", device="cuda", on_epoch=on_epoch),
        )
    train_peak = torch.cuda.max_memory_allocated() / 2**20
    t0 = time.perf_counter()
    scored = evaluate(model, val, device="cuda", tta=True, channels_last=True, amp=True)
    torch.cuda.synchronize()
    tta_s = (time.perf_counter() - t0) / len(scored["labels"])
    assert np.isfinite(scored["tta_probs"]).all() and np.isfinite(scored["probs"]).all()
    return {
        "checkpointing": checkpointing,
        "epoch_s": [round(e, 2) for e in epochs],
        "train_img_per_s": round(images / epochs[-1], 1),
        "peak_train_MiB": round(train_peak),
        "tta_s_per_image": round(tta_s, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, nargs=2, default=[1152, 896])
    ap.add_argument("--images", type=int, default=32)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("check_cuda.py needs a CUDA device")
    print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    for checkpointing in (False, True):
        print(run(tuple(args.size), args.images, checkpointing), flush=True)


if __name__ == "__main__":
    main()
