"""One epoch of training and one evaluation pass, reading ``(x, y, index)`` batches from a loader.

Batches are prepared (16-bit values to the 0-255 scale, augmentation) by
:func:`e2e_mammo.data.batches.prepare_batch`. Per-batch class balancing gives each sample the weight
1/(count of its class in the batch), normalised to sum to the batch size (the authors'
``--auto-batch-balance``). The same code runs on CPU and CUDA; ``channels_last`` is the caller's
choice (:meth:`e2e_mammo.training.fit.FitConfig.uses_channels_last`: CUDA, and CPU for the patch
classifiers), ``amp`` (bf16 autocast) is used only on CUDA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from e2e_mammo.data.augment import AugmentConfig
from e2e_mammo.data.batches import prepare_batch
from e2e_mammo.evaluation.metrics import accuracy, roc_auc
from e2e_mammo.evaluation.tta import flip_tta_probs
from e2e_mammo.training.staged import freeze_frozen_batchnorm


def balanced_sample_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Weights 1/(count of the sample's class in the batch), scaled to sum to the batch size.

    Every class present in the batch then carries the same total weight.
    """
    labels = labels.long()
    counts = torch.bincount(labels, minlength=n_classes).to(torch.float32)
    w = 1.0 / counts[labels]
    return w * (labels.numel() / w.sum())


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(
    model, x, y, balance: bool, autocast, accumulate: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward of one batch (gradients add up until the optimiser steps)."""
    with autocast:
        logits = model(x)
    per_sample = F.cross_entropy(logits.float(), y, reduction="none")
    if balance:
        per_sample = per_sample * balanced_sample_weights(y, logits.shape[1])
    loss = per_sample.mean()
    (loss / accumulate).backward()
    return loss.detach(), logits.detach()


@dataclass(frozen=True)
class EpochSettings:
    """How :func:`train_one_epoch` trains (see there); :class:`~.fit.FitConfig` makes one."""

    augment: AugmentConfig | None = None
    balance: bool = True
    channels_last: bool = False
    amp: bool = False
    accumulate: int = 1
    fixed_bn_stats: Sequence[str] = ()


class _Totals:
    """Running loss and accuracy of an epoch, kept on the device (no sync per batch)."""

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.seen = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss += loss.double() * y.numel()
        self.correct += (logits.argmax(1) == y).sum()
        self.seen += y.numel()

    def result(self) -> dict[str, float]:
        if self.seen == 0:
            raise ValueError("no training batch (need at least 2 samples)")
        return {"loss": float(self.loss) / self.seen, "accuracy": int(self.correct) / self.seen}


def _add_time(timings: dict[str, float] | None, key: str, since: float, device) -> float:
    """Add the seconds since ``since`` to ``timings[key]`` (after a device sync); return now."""
    if timings is None:
        return since
    _sync(device)
    now = time.perf_counter()
    timings[key] = timings.get(key, 0.0) + (now - since)
    return now


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str,
    generator: torch.Generator,
    settings: EpochSettings = EpochSettings(),
    timings: dict[str, float] | None = None,
) -> dict[str, float]:
    """One sweep over ``loader``'s ``(x, y, index)`` batches; returns ``{"loss", "accuracy"}``.

    Batches are augmented with ``generator`` (``settings.augment=None``: no augmentation). A
    batch of a single sample is skipped (batch norm cannot train on it). Frozen batch-norm
    layers stay in eval mode. ``settings.accumulate`` > 1 adds up the gradients of that many
    batches (each loss divided by ``accumulate``) before one optimiser step: batch 2 x 8 steps
    like batch 16 (balancing stays per batch). Batch-norm layers under the submodules named in
    ``settings.fixed_bn_stats`` keep their running statistics. ``timings`` (optional)
    accumulates ``data_s`` (loading, scaling, augmentation) and ``step_s`` (forward, backward,
    optimiser step) in seconds, as torchvision's reference scripts report them.
    """
    device = torch.device(device)
    model.train()
    freeze_frozen_batchnorm(model, settings.fixed_bn_stats)
    autocast = _autocast(device, settings.amp)
    totals, pending = _Totals(device), 0
    optimizer.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    for xb, yb, _ in loader:
        if xb.shape[0] < 2:
            continue
        x = prepare_batch(
            xb,
            device=device,
            augment_cfg=settings.augment,
            generator=generator,
            channels_last=settings.channels_last,
        )
        y = torch.as_tensor(yb).to(device, non_blocking=True).long()
        t1 = _add_time(timings, "data_s", t0, device)
        loss, logits = _train_step(model, x, y, settings.balance, autocast, settings.accumulate)
        pending += 1
        if pending == settings.accumulate:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            pending = 0
        totals.add(loss, logits, y)
        t0 = _add_time(timings, "step_s", t1, device)
    if pending:  # the epoch's last, incomplete accumulation
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return totals.result()


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    device: torch.device | str,
    tta: bool = False,
    channels_last: bool = False,
    amp: bool = False,
) -> dict[str, Any]:
    """Score every batch of ``loader`` without augmentation.

    Returns ``loss``, ``accuracy``, ``auc`` (:func:`~e2e_mammo.evaluation.metrics.roc_auc`),
    ``index``, ``labels``, softmax ``probs`` (N, K) and, with ``tta``, ``tta_probs`` (the mean
    over four flips, :mod:`e2e_mammo.evaluation.tta`) and ``tta_auc``. An empty loader gives
    ``nan`` metrics and no probabilities.
    """
    device = torch.device(device)
    model.eval()
    autocast = _autocast(device, amp)
    out: dict[str, list] = {"probs": [], "tta_probs": [], "labels": [], "index": []}
    loss_sum = 0.0
    for xb, yb, ib in loader:
        x = prepare_batch(xb, device=device, channels_last=channels_last)
        y = torch.as_tensor(yb).to(device).long()
        with autocast:
            logits, tta_probs = flip_tta_probs(model, x) if tta else (model(x), None)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        out["probs"].append(torch.softmax(logits, 1).cpu().numpy())
        if tta_probs is not None:
            out["tta_probs"].append(tta_probs.float().cpu().numpy())
        out["labels"].append(y.cpu().numpy())
        out["index"].append(torch.as_tensor(ib).numpy())
    if not out["labels"]:  # an empty split (e.g. INbreast has no test split)
        return {
            "loss": math.nan,
            "accuracy": math.nan,
            "auc": math.nan,
            "index": np.zeros(0, int),
            "labels": np.zeros(0, int),
            "probs": None,
            "tta_probs": None,
        }
    result: dict[str, Any] = {k: np.concatenate(v) for k, v in out.items() if v}
    result["loss"] = loss_sum / len(result["labels"])
    result["accuracy"] = accuracy(result["labels"], result["probs"])
    result["auc"] = roc_auc(result["labels"], result["probs"])
    if tta:
        result["tta_auc"] = roc_auc(result["labels"], result["tta_probs"])
    return result
