"""Training: staged fine-tuning, batch augmentation, the epoch loop, ``fit``, checkpoints and
the tracked-job runner every training stage uses.

The names below are imported on first use (PEP 562), so that importing a torch-free submodule
(``patch_plan``, ``whole_plan``, ``transfer_plan``: what the workflow's parse needs) does not
import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from e2e_mammo.lazy import lazy_exports

_EXPORTS = {
    "CheckpointConfigError": "checkpoint",
    "Extension": "fit",
    "FitConfig": "fit",
    "FitResult": "fit",
    "FitRun": "fit",
    "fit": "fit",
    "JobContext": "job",
    "JobOutcome": "job",
    "TrackedJob": "job",
    "run_tracked_job": "job",
    "balanced_sample_weights": "loop",
    "evaluate": "loop",
    "train_one_epoch": "loop",
    "MONITORS": "monitor",
    "Stage": "staged",
    "apply_stage": "staged",
    "freeze_frozen_batchnorm": "staged",
    "make_optimizer": "staged",
    "schedule_from_config": "staged",
    "stage_for_epoch": "staged",
    "total_epochs": "staged",
}

if TYPE_CHECKING:
    from e2e_mammo.training.checkpoint import CheckpointConfigError
    from e2e_mammo.training.fit import Extension, FitConfig, FitResult, FitRun, fit
    from e2e_mammo.training.job import JobContext, JobOutcome, TrackedJob, run_tracked_job
    from e2e_mammo.training.loop import (
        balanced_sample_weights,
        evaluate,
        train_one_epoch,
    )
    from e2e_mammo.training.monitor import MONITORS
    from e2e_mammo.training.staged import (
        Stage,
        apply_stage,
        freeze_frozen_batchnorm,
        make_optimizer,
        schedule_from_config,
        stage_for_epoch,
        total_epochs,
    )


__all__ = [
    "MONITORS",
    "CheckpointConfigError",
    "Extension",
    "FitConfig",
    "FitResult",
    "FitRun",
    "JobContext",
    "JobOutcome",
    "Stage",
    "TrackedJob",
    "apply_stage",
    "balanced_sample_weights",
    "evaluate",
    "fit",
    "freeze_frozen_batchnorm",
    "make_optimizer",
    "run_tracked_job",
    "schedule_from_config",
    "stage_for_epoch",
    "total_epochs",
    "train_one_epoch",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
