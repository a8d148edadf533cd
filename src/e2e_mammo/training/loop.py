"""Training loop: ``train_one_epoch``, ``evaluate`` and the staged, resumable ``fit``.

Input scaling, as in the authors' code: 16-bit PNG values are rescaled to the 0-255 scale
(``x * 255/65535``, their rescale factor 0.003891), augmented (:mod:`.augment`), and the scalar
training-set ``mean`` is subtracted. Per-batch class balancing gives each sample the weight
1/(count of its class in the batch), normalised to sum to the batch size (the authors'
``--auto-batch-balance``). The same code runs on CPU and CUDA (``device``); ``channels_last`` and
``amp`` (bf16 autocast) are used only on CUDA. The caller's ``torch.set_num_threads`` is honoured.

Reproducibility: epoch ``e`` shuffles with a generator seeded from ``(seed, e, 0)`` and augments
with one seeded from ``(seed, e, 1)``, so a run resumed from ``last.pt`` reproduces an
uninterrupted one exactly (given deterministic kernels).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.training import checkpoint as ckpt
from e2e_mammo.training.augment import AugmentConfig, augment_batch
from e2e_mammo.training.staged import (
    Stage,
    apply_stage,
    freeze_frozen_batchnorm,
    make_optimizer,
    stage_for_epoch,
    total_epochs,
)

ArrayLike = torch.Tensor | np.ndarray


@dataclass
class FitResult:
    """Outcome of :func:`fit`. ``best_epoch`` is 1-based; ``test_*`` use the best weights."""

    best_epoch: int
    best_val_accuracy: float
    test_accuracy: float | None = None
    test_loss: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    completed: bool = True


def _tensor(a: ArrayLike) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    with warnings.catch_warnings():
        # memory-mapped patch arrays are read-only; batches are always copies, never written
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(a))


def _use_cuda_extras(device: torch.device) -> bool:
    return device.type == "cuda"


def balanced_sample_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Weights 1/(count of the sample's class in the batch), scaled to sum to the batch size.

    Every class present in the batch then carries the same total weight.
    """
    labels = labels.long()
    counts = torch.bincount(labels, minlength=n_classes).to(torch.float32)
    w = 1.0 / counts[labels]
    return w * (labels.numel() / w.sum())


def prepare_batch(
    x: ArrayLike,
    *,
    mean: float,
    device: torch.device | str,
    augment_cfg: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    scale: float = RESCALE_16BIT,
    channels_last: bool = False,
) -> torch.Tensor:
    """Raw (N,1,H,W) batch -> float32 model input on ``device``: scale, augment, minus mean."""
    device = torch.device(device)
    x = _tensor(x).to(device, non_blocking=True).to(torch.float32) * scale
    if augment_cfg is not None:
        if generator is None:
            raise ValueError("augmentation needs a generator")
        x = augment_batch(x, generator, augment_cfg)
    x = x - mean
    if channels_last and _use_cuda_extras(device):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _batches(
    images: ArrayLike | Iterable,
    labels: ArrayLike | None,
    batch_size: int,
    order: torch.Tensor | None,
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) batches: from in-memory arrays (in ``order``) or passed through from a loader."""
    if labels is None:  # a loader of (x, y) batches
        yield from images  # type: ignore[misc]
        return
    images, labels = _tensor(images), _tensor(labels)
    n = images.shape[0]
    if labels.shape[0] != n:
        raise ValueError(f"{n} images but {labels.shape[0]} labels")
    for start in range(0, n, batch_size):
        if order is None:
            yield images[start : start + batch_size], labels[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield images[idx], labels[idx]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_one_epoch(
    model: nn.Module,
    images: ArrayLike | Iterable,
    labels: ArrayLike | None,
    *,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    mean: float,
    augment_cfg: AugmentConfig | None,
    generator: torch.Generator,
    device: torch.device | str,
    channels_last: bool = False,
    amp: bool = False,
    shuffle: bool = True,
    shuffle_generator: torch.Generator | None = None,
    n_classes: int | None = None,
    balance: bool = True,
    scale: float = RESCALE_16BIT,
    timings: dict[str, float] | None = None,
) -> dict[str, float]:
    """One sweep over the training set; returns ``{"loss", "accuracy"}`` (sample-weighted means).

    ``images`` (N,1,H,W) uint16 (or float in the same 16-bit scale) with ``labels`` (N,), or a
    loader of ``(x, y)`` batches with ``labels=None`` (then shuffling is the loader's job).
    Batches are drawn in a permutation from ``shuffle_generator`` (default: ``generator``),
    augmented with ``generator`` (``augment_cfg=None``: no augmentation). A trailing batch of a
    single sample is skipped (BatchNorm cannot train on it). Frozen BatchNorm layers stay in
    eval mode. ``timings`` (optional) accumulates ``data_s`` (indexing, scaling, augmentation)
    and ``step_s`` (forward, backward, optimiser step) in seconds.
    """
    device = torch.device(device)
    model.train()
    freeze_frozen_batchnorm(model)
    cuda = _use_cuda_extras(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if (amp and cuda) else nullcontext()
    order = None
    if labels is not None and shuffle:
        n = _tensor(images).shape[0]
        order = torch.randperm(n, generator=shuffle_generator or generator)
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    t0 = time.perf_counter()
    for xb, yb in _batches(images, labels, batch_size, order):
        if xb.shape[0] < 2 and labels is not None:
            continue
        x = prepare_batch(
            xb,
            mean=mean,
            device=device,
            augment_cfg=augment_cfg,
            generator=generator,
            scale=scale,
            channels_last=channels_last,
        )
        y = _tensor(yb).to(device, non_blocking=True).long()
        if timings is not None:
            _sync(device)
            t1 = time.perf_counter()
            timings["data_s"] = timings.get("data_s", 0.0) + (t1 - t0)
        with autocast:
            logits = model(x)
        per_sample = F.cross_entropy(logits.float(), y, reduction="none")
        if balance:
            k = n_classes if n_classes is not None else logits.shape[1]
            per_sample = per_sample * balanced_sample_weights(y, k)
        loss = per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach().double() * y.numel()
        total_correct += (logits.detach().argmax(1) == y).sum()
        seen += y.numel()
        if timings is not None:
            _sync(device)
            t0 = time.perf_counter()
            timings["step_s"] = timings.get("step_s", 0.0) + (t0 - t1)
    if seen == 0:
        raise ValueError("no training batch (need at least 2 samples)")
    return {"loss": float(total_loss) / seen, "accuracy": int(total_correct) / seen}


def evaluate(
    model: nn.Module,
    images: ArrayLike | Iterable,
    labels: ArrayLike | None,
    *,
    batch_size: int,
    mean: float,
    device: torch.device | str,
    channels_last: bool = False,
    amp: bool = False,
    scale: float = RESCALE_16BIT,
) -> dict[str, Any]:
    """Loss, accuracy and softmax ``probs`` (N, n_classes numpy) without augmentation."""
    device = torch.device(device)
    model.eval()
    cuda = _use_cuda_extras(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if (amp and cuda) else nullcontext()
    probs, losses, ys = [], [], []
    with torch.inference_mode():
        for xb, yb in _batches(images, labels, batch_size, None):
            x = prepare_batch(
                xb, mean=mean, device=device, scale=scale, channels_last=channels_last
            )
            y = _tensor(yb).to(device).long()
            with autocast:
                logits = model(x)
            logits = logits.float()
            losses.append(F.cross_entropy(logits, y, reduction="sum"))
            probs.append(torch.softmax(logits, 1).cpu())
            ys.append(y.cpu())
    if not probs:
        raise ValueError("nothing to evaluate")
    p = torch.cat(probs).numpy()
    y_all = torch.cat(ys).numpy()
    return {
        "loss": float(torch.stack(losses).sum()) / len(y_all),
        "accuracy": float((p.argmax(1) == y_all).mean()),
        "probs": p,
    }


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed derived from (seed, epoch, stream) (stream 0: shuffling, 1: augmentation)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(2)
    return int((int(state[0]) << 32 | int(state[1])) & ((1 << 63) - 1))


def _model_signature(model: nn.Module) -> str:
    text = ";".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return f"{type(model).__name__}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _record_result(history: list[dict], best_epoch: int, best_acc: float, **kw) -> FitResult:
    return FitResult(best_epoch=best_epoch, best_val_accuracy=best_acc, history=list(history), **kw)


def fit(
    model: nn.Module,
    train: tuple[ArrayLike, ArrayLike],
    val: tuple[ArrayLike, ArrayLike],
    test: tuple[ArrayLike, ArrayLike] | None = None,
    *,
    schedule: Sequence[Stage],
    top_blocks: Sequence[str],
    batch_size: int = 32,
    mean: float,
    augment_cfg: AugmentConfig | None,
    seed: int,
    device: torch.device | str,
    checkpoint_dir: str | Path,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    max_epochs: int | None = None,
    config: dict[str, Any] | None = None,
    head_attr: str = "head",
    backbone_attr: str = "backbone",
    channels_last: bool = False,
    amp: bool = False,
    eval_batch_size: int | None = None,
) -> FitResult:
    """Train ``model`` through the staged ``schedule``; resumable; best epoch on val accuracy.

    ``train``/``val``/``test`` are ``(images, labels)`` pairs (see :func:`train_one_epoch`).
    Each stage gets a fresh Adam (:func:`~.staged.make_optimizer`, as Keras recompiles per
    stage). After every epoch ``checkpoint_dir/last.pt`` is written (and ``best.pt`` when val
    accuracy improved; ties keep the earlier epoch) and ``on_epoch(record)`` is called with the
    history record (``epoch`` 1-based, ``stage``, ``lr``, ``train_loss``, ``train_accuracy``,
    ``val_loss``, ``val_accuracy``).

    A run resumes from ``last.pt`` when present; a checkpoint written with another config
    (``config`` given by the caller, e.g. the arch, plus the model's parameter layout, schedule,
    top_blocks, batch size, mean, augmentation, seed and data sizes) raises
    :class:`~.checkpoint.CheckpointConfigError`. A completed ``last.pt`` returns its result
    without training. ``max_epochs`` stops once that many epochs of the schedule are done
    (without marking completion), to simulate a kill.

    At the end the model holds the best epoch's weights; ``test`` is scored with them.
    """
    device = torch.device(device)
    checkpoint_dir = Path(checkpoint_dir)
    last_path, best_path = checkpoint_dir / ckpt.LAST, checkpoint_dir / ckpt.BEST
    schedule = list(schedule)
    n_total = total_epochs(schedule)
    eval_bs = eval_batch_size or batch_size
    run_config = ckpt.normalise_config(
        {
            "user": config or {},
            "model": _model_signature(model),
            "schedule": [dataclasses.asdict(s) for s in schedule],
            "top_blocks": list(top_blocks),
            "batch_size": batch_size,
            "mean": float(mean),
            "augment": dataclasses.asdict(augment_cfg) if augment_cfg is not None else None,
            "seed": int(seed),
            "n_train": int(_tensor(train[0]).shape[0]),
            "n_val": int(_tensor(val[0]).shape[0]),
            "n_test": None if test is None else int(_tensor(test[0]).shape[0]),
        }
    )
    model.to(device)
    if channels_last and _use_cuda_extras(device):
        model.to(memory_format=torch.channels_last)

    history: list[dict[str, Any]] = []
    best_epoch, best_acc = 0, -math.inf
    start_epoch = 0
    saved_opt_state, saved_stage_index = None, None
    if last_path.is_file():
        state = ckpt.load(last_path)
        ckpt.check_config(state["config"], run_config, last_path)
        history = list(state["history"])
        best_epoch, best_acc = int(state["best_epoch"]), float(state["best_val_accuracy"])
        if state.get("completed"):
            model.load_state_dict(ckpt.load(best_path)["model"])
            return _record_result(
                history,
                best_epoch,
                best_acc,
                test_accuracy=state.get("test_accuracy"),
                test_loss=state.get("test_loss"),
            )
        model.load_state_dict(state["model"])
        start_epoch = int(state["epoch"])
        saved_opt_state, saved_stage_index = state["optimizer"], int(state["stage_index"])
        ckpt.restore_rng_states(state["rng"])

    def save_last(epoch: int, stage_index: int, optimizer, model_state=None, **extra) -> None:
        ckpt.save_atomic(
            {
                "format": ckpt.FORMAT_VERSION,
                "model": model.state_dict() if model_state is None else model_state,
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "epoch": epoch,
                "stage_index": stage_index,
                "history": history,
                "best_epoch": best_epoch,
                "best_val_accuracy": best_acc,
                "rng": ckpt.rng_states(),
                "config": run_config,
                **extra,
            },
            last_path,
        )

    optimizer, current_stage = None, None
    stop = n_total if max_epochs is None else min(n_total, max_epochs)
    for epoch in range(start_epoch, stop):
        stage_index, stage = stage_for_epoch(schedule, epoch)
        if stage_index != current_stage:
            params = apply_stage(model, stage, top_blocks, head_attr, backbone_attr)
            optimizer = make_optimizer(params, stage)
            if saved_opt_state is not None and saved_stage_index == stage_index:
                optimizer.load_state_dict(saved_opt_state)
            saved_opt_state = None
            current_stage = stage_index
        shuffle_gen = torch.Generator().manual_seed(epoch_seed(seed, epoch, 0))
        aug_gen = torch.Generator().manual_seed(epoch_seed(seed, epoch, 1))
        tr = train_one_epoch(
            model,
            train[0],
            train[1],
            optimizer=optimizer,
            batch_size=batch_size,
            mean=mean,
            augment_cfg=augment_cfg,
            generator=aug_gen,
            shuffle_generator=shuffle_gen,
            device=device,
            channels_last=channels_last,
            amp=amp,
        )
        va = evaluate(
            model,
            val[0],
            val[1],
            batch_size=eval_bs,
            mean=mean,
            device=device,
            channels_last=channels_last,
            amp=amp,
        )
        record = {
            "epoch": epoch + 1,
            "stage": stage.name,
            "lr": stage.lr,
            "train_loss": tr["loss"],
            "train_accuracy": tr["accuracy"],
            "val_loss": va["loss"],
            "val_accuracy": va["accuracy"],
        }
        history.append(record)
        if va["accuracy"] > best_acc:
            best_epoch, best_acc = epoch + 1, va["accuracy"]
            ckpt.save_atomic({"model": model.state_dict(), "epoch": epoch + 1}, best_path)
        save_last(epoch + 1, stage_index, optimizer)
        if on_epoch is not None:
            on_epoch(dict(record))
    done = stop >= n_total
    if not done:
        return _record_result(history, best_epoch, best_acc, completed=False)
    last_model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_path.is_file():
        model.load_state_dict(ckpt.load(best_path)["model"])
    test_acc = test_loss = None
    if test is not None:
        te = evaluate(
            model,
            test[0],
            test[1],
            batch_size=eval_bs,
            mean=mean,
            device=device,
            channels_last=channels_last,
            amp=amp,
        )
        test_acc, test_loss = te["accuracy"], te["loss"]
    save_last(
        stop,
        stage_for_epoch(schedule, stop - 1)[0] if stop else 0,
        optimizer,
        model_state=last_model_state,
        completed=True,
        test_accuracy=test_acc,
        test_loss=test_loss,
    )
    return _record_result(
        history, best_epoch, best_acc, test_accuracy=test_acc, test_loss=test_loss
    )
