"""``fit``: a staged, resumable training run that keeps the best epoch chosen by a monitor.

* Stages (:mod:`.staged`): each gets a fresh Adam (as Keras recompiles per stage). ``decay``:
  ``all`` (every trainable parameter gets the stage's weight decay) or ``head_kernels`` (only
  the new top layers' kernels, with Keras' ``l2`` scale: the authors' whole-image models).
* ``accumulate``: gradients of that many batches per optimiser step (batch 2 with
  accumulation stands in for a larger batch when memory is short).
* ``fixed_bn_stats``: submodules whose batch-norm layers keep their running statistics while
  their parameters train (statistics of 2 images per batch would overwrite them).
* Monitor (:mod:`.monitor`): validation accuracy, validation ROC AUC, or the last epoch. When
  no epoch has a score (an AUC on a one-class validation set), the last epoch is kept and its
  score is ``nan``.
* Extension (:class:`Extension`): the paper's "resumed with up to N additional epochs" when a
  run has not converged, decided at the end of the schedule: if the best epoch lies within the
  last ``patience`` epochs, the last stage is extended by ``step`` epochs, at most ``max_extra``
  in all. The finished epochs are kept; only new epochs are trained.
* Checkpoint (:mod:`.checkpoint`): after every epoch (or every ``checkpoint_interval_s``), one
  atomic file with the last and the best
  state; an interrupted run resumes from it exactly (epoch ``e`` shuffles and augments with
  generators seeded from ``(seed, e)``, :mod:`e2e_mammo.data.samplers`), so a resumed run equals
  an uninterrupted one (given deterministic kernels).

At the end the model holds the best epoch's weights. Scoring the splits is the caller's job
(:func:`e2e_mammo.training.loop.evaluate`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from e2e_mammo.data.augment import AugmentConfig
from e2e_mammo.data.loaders import set_epoch
from e2e_mammo.data.samplers import AUGMENT_STREAM, MODEL_STREAM, epoch_generator, epoch_seed
from e2e_mammo.plan.schedules import Stage, stage_for_epoch, total_epochs
from e2e_mammo.plan.settings import FitSettings
from e2e_mammo.training import checkpoint as ckpt
from e2e_mammo.training.loop import EpochSettings, evaluate, train_one_epoch
from e2e_mammo.training.monitor import check_monitor, improves, monitor_score
from e2e_mammo.training.staged import (
    DECAY_CHOICES,
    KERAS_L2_FACTOR,
    apply_stage,
    head_kernels,
    make_optimizer,
)


@dataclass(frozen=True)
class Extension:
    """Extend a run that has not converged (see the module doc)."""

    step: int
    max_extra: int
    patience: int

    def __post_init__(self) -> None:
        if self.step < 1 or self.max_extra < 0 or self.patience < 1:
            raise ValueError("extension needs step >= 1, max_extra >= 0, patience >= 1")


@dataclass(frozen=True)
class FitConfig:
    """Everything that decides a run's result besides the data and the initial model."""

    schedule: tuple[Stage, ...]
    top_blocks: tuple[str, ...] = ()
    monitor: str = "val_accuracy"
    seed: int = 0
    augment: AugmentConfig | None = None
    balance: bool = True
    extension: Extension | None = None
    channels_last: bool = True
    #: channels_last on CPU too: a ResNet50 step on the demo's 50-px patches is ~1.08x as fast
    #: there, one on 256x192 images is not (``bench/reference.py --layouts``)
    cpu_channels_last: bool = False
    amp: bool = True
    head_attr: str = "head"
    backbone_attr: str = "backbone"
    accumulate: int = 1
    decay: str = "all"
    fixed_bn_stats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_monitor(self.monitor)
        if self.accumulate < 1:
            raise ValueError(f"accumulate must be >= 1, got {self.accumulate}")
        if self.decay not in DECAY_CHOICES:
            raise ValueError(f"decay must be one of {DECAY_CHOICES}, got {self.decay!r}")
        if not self.schedule:
            raise ValueError("a schedule needs at least one stage")
        if self.extension is not None and self.monitor == "last":
            raise ValueError("an extension needs a monitor that can converge, not 'last'")

    def uses_channels_last(self, device: torch.device | str) -> bool:
        """Whether the model and its batches are channels_last on ``device``."""
        cuda = torch.device(device).type == "cuda"
        return self.channels_last and (cuda or self.cpu_channels_last)

    def epoch_settings(self, device: torch.device | str) -> EpochSettings:
        """What one training epoch on ``device`` needs of this configuration."""
        return EpochSettings(
            augment=self.augment,
            balance=self.balance,
            channels_last=self.uses_channels_last(device),
            amp=self.amp,
            accumulate=self.accumulate,
            fixed_bn_stats=self.fixed_bn_stats,
        )

    def settings(self) -> dict[str, Any]:
        """Plain-type form (part of a run's identity)."""
        return ckpt.normalise_config(dataclasses.asdict(self))


def fit_config(fit: FitSettings) -> FitConfig:
    """The run a stage's :class:`~e2e_mammo.plan.settings.FitSettings` describe (a fixed
    ``fixed_bn`` keeps the backbone's batch-norm statistics)."""
    return FitConfig(
        schedule=tuple(fit.schedule),
        top_blocks=tuple(fit.top_blocks),
        monitor=fit.monitor,
        seed=fit.seed,
        augment=AugmentConfig.from_dict(fit.augment),
        extension=Extension(**fit.extension) if fit.extension else None,
        accumulate=fit.accumulate,
        decay=fit.decay,
        fixed_bn_stats=("backbone",) if fit.fixed_bn else (),
    )


@dataclass
class FitResult:
    """Outcome of :func:`fit`. ``best_epoch`` is 1-based."""

    best_epoch: int
    best_score: float
    monitor: str
    history: list[dict[str, Any]] = field(default_factory=list)
    completed: bool = True
    epochs: int = 0


@dataclass
class _RunState:
    schedule: list[Stage]
    epoch: int = 0
    stage_index: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    best_model: dict[str, torch.Tensor] | None = None
    optimizer_state: dict | None = None


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _save(path: Path, model, optimizer, state: _RunState, identity: str, completed=False) -> None:
    ckpt.save_atomic(
        {
            "format": ckpt.FORMAT_VERSION,
            "identity": identity,
            "completed": completed,
            "model": _clone_state(model),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "epoch": state.epoch,
            "stage_index": state.stage_index,
            "schedule": [dataclasses.asdict(s) for s in state.schedule],
            "history": state.history,
            "best_epoch": state.best_epoch,
            "best_score": state.best_score,
            "best_model": state.best_model,
            "rng": ckpt.rng_states(),
        },
        path,
    )


def _restore(path: Path, model: nn.Module, identity: str) -> _RunState:
    saved = ckpt.load(path)
    if saved.get("identity") != identity or saved.get("completed"):
        raise ckpt.CheckpointConfigError(
            f"{path}: belongs to another or a finished run; apply checkpoint.prepare() first"
        )
    model.load_state_dict(saved["model"])
    ckpt.restore_rng_states(saved["rng"])
    return _RunState(
        schedule=[Stage(**s) for s in saved["schedule"]],
        epoch=int(saved["epoch"]),
        stage_index=int(saved["stage_index"]),
        history=list(saved["history"]),
        best_epoch=int(saved["best_epoch"]),
        best_score=float(saved["best_score"]),
        best_model=saved["best_model"],
        optimizer_state=saved["optimizer"],
    )


def _extend(state: _RunState, ext: Extension | None, base_epochs: int) -> bool:
    """Lengthen the last stage when the run has not converged; True when it was extended."""
    total = total_epochs(state.schedule)
    if ext is None or state.epoch < total:
        return False
    extra_done = total - base_epochs
    converging = state.best_epoch > total - ext.patience
    if not converging or extra_done >= ext.max_extra:
        return False
    last = state.schedule[-1]
    more = min(ext.step, ext.max_extra - extra_done)
    state.schedule[-1] = dataclasses.replace(last, epochs=last.epochs + more)
    return True


def _optimizer_for(model, cfg: FitConfig, state: _RunState, stage_index: int, stage: Stage):
    params = apply_stage(model, stage, cfg.top_blocks, cfg.head_attr, cfg.backbone_attr)
    if cfg.decay == "head_kernels":
        kernels = head_kernels(model, cfg.head_attr)
        optimizer = make_optimizer(params, stage, kernels, KERAS_L2_FACTOR)
    else:
        optimizer = make_optimizer(params, stage)
    if state.optimizer_state is not None and state.stage_index == stage_index:
        optimizer.load_state_dict(state.optimizer_state)
    state.optimizer_state = None
    return optimizer


def _epoch_record(epoch: int, stage: Stage, tr: dict, va: dict) -> dict[str, Any]:
    return {
        "epoch": epoch + 1,
        "stage": stage.name,
        "lr": stage.lr,
        "train_loss": tr["loss"],
        "train_accuracy": tr["accuracy"],
        "val_loss": va["loss"],
        "val_accuracy": va["accuracy"],
        "val_auc": va["auc"],
    }


def _one_epoch(model, train, val, cfg: FitConfig, optimizer, epoch: int, stage: Stage, device):
    """Train epoch ``epoch`` (0-based) with its seeded order and augmentation; score ``val``.

    The global torch RNG (dropout, anything else a model draws) is seeded per epoch too, so an
    epoch's result never depends on what ran before it in the process.
    """
    torch.manual_seed(epoch_seed(cfg.seed, epoch, MODEL_STREAM))
    set_epoch(train, epoch)
    generator = epoch_generator(cfg.seed, epoch, AUGMENT_STREAM)
    settings = cfg.epoch_settings(device)
    tr = train_one_epoch(model, train, optimizer, device, generator, settings)
    if val is None:  # nothing is scored during training (monitor "last")
        va = {"loss": math.nan, "accuracy": math.nan, "auc": math.nan}
    else:
        va = evaluate(model, val, device=device, channels_last=settings.channels_last, amp=cfg.amp)
    return _epoch_record(epoch, stage, tr, va)


@dataclass(frozen=True)
class FitRun:
    """Where and how one :func:`fit` runs; none of it changes the result.

    ``checkpoint_dir`` holds the run's checkpoint and ``identity`` names the run it belongs to
    (a resume needs the same one; call :func:`~.checkpoint.prepare` first). ``on_epoch(record)``
    gets each epoch's history record (``epoch`` 1-based, ``stage``, ``lr``, train/val loss and
    accuracy, ``val_auc``). ``stop_after`` stops once that many epochs are done, without
    completing (simulates a kill). ``checkpoint_interval_s`` writes the checkpoint only when
    that many seconds have passed since the last one (0: after every epoch); a resume then
    retrains the epochs since the last checkpoint, with the same result, since every epoch is
    seeded on its own.
    """

    checkpoint_dir: str | Path
    identity: str
    device: torch.device | str = "cpu"
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    stop_after: int | None = None
    checkpoint_interval_s: float = 0.0


def _start(model: nn.Module, cfg: FitConfig, run: FitRun, device: torch.device) -> _RunState:
    """The model on ``device`` and the run's state: fresh, or restored from its checkpoint."""
    model.to(device)
    if cfg.uses_channels_last(device):
        model.to(memory_format=torch.channels_last)
    path = Path(run.checkpoint_dir) / ckpt.FILE
    if path.is_file():
        return _restore(path, model, run.identity)
    return _RunState(schedule=list(cfg.schedule))


def _keep_if_best(state: _RunState, model: nn.Module, cfg: FitConfig, record: dict) -> None:
    score = monitor_score(cfg.monitor, record)
    if improves(score, state.best_score):
        state.best_epoch, state.best_score = record["epoch"], score
        state.best_model = _clone_state(model)


def _finish(state: _RunState, model: nn.Module, monitor: str) -> FitResult:
    """The model set to the best epoch's weights, and the completed run's result."""
    if state.best_model is None:  # no epoch had a score (e.g. AUC of a one-class val set)
        state.best_epoch, state.best_score = state.epoch, math.nan
        state.best_model = _clone_state(model)
    # no final checkpoint: the caller removes the folder once its outputs are written, and a
    # process killed before that resumes from the last one with the same result (a ResNet50
    # checkpoint with Adam's state is ~0.4 GB, seconds of writing for a short job)
    model.load_state_dict(state.best_model)
    return FitResult(state.best_epoch, state.best_score, monitor, state.history, True, state.epoch)


def fit(
    model: nn.Module, train: DataLoader, val: DataLoader | None, cfg: FitConfig, run: FitRun
) -> FitResult:
    """Train ``model`` through ``cfg.schedule`` on ``train``, choosing the best epoch on ``val``.

    ``val`` may be ``None`` with monitor ``last``: no set is scored during training (the
    history's validation columns are ``nan``). Resumes from ``run.checkpoint_dir`` when it holds
    an interrupted run of the same ``run.identity`` (:class:`FitRun`).
    """
    if val is None and cfg.monitor != "last":
        raise ValueError(f"monitor {cfg.monitor!r} needs a validation loader")
    device = torch.device(run.device)
    state = _start(model, cfg, run, device)
    base_epochs = total_epochs(cfg.schedule)
    optimizer, last_save = None, time.monotonic()
    while state.epoch < total_epochs(state.schedule) or _extend(state, cfg.extension, base_epochs):
        if run.stop_after is not None and state.epoch >= run.stop_after:
            return FitResult(state.best_epoch, state.best_score, cfg.monitor, state.history, False)
        epoch = state.epoch
        index, stage = stage_for_epoch(state.schedule, epoch)
        if index != state.stage_index or optimizer is None:
            optimizer = _optimizer_for(model, cfg, state, index, stage)
        record = _one_epoch(model, train, val, cfg, optimizer, epoch, stage, device)
        state.history.append(record)
        state.epoch, state.stage_index = epoch + 1, index
        _keep_if_best(state, model, cfg, record)
        if time.monotonic() - last_save >= run.checkpoint_interval_s:
            _save(Path(run.checkpoint_dir) / ckpt.FILE, model, optimizer, state, run.identity)
            last_save = time.monotonic()
        if run.on_epoch is not None:
            run.on_epoch(dict(record))
    return _finish(state, model, cfg.monitor)
