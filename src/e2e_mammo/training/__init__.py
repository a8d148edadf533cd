"""Training: staged fine-tuning, batch augmentation, the epoch loop, ``fit``, checkpoints and
the tracked-job runner every training stage uses."""

from e2e_mammo.training.augment import AugmentConfig, augment_batch
from e2e_mammo.training.checkpoint import CheckpointConfigError
from e2e_mammo.training.fit import Extension, FitConfig, FitResult, fit
from e2e_mammo.training.job import JobContext, JobOutcome, TrackedJob, run_tracked_job
from e2e_mammo.training.loop import (
    balanced_sample_weights,
    evaluate,
    prepare_batch,
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
    "AugmentConfig",
    "CheckpointConfigError",
    "Extension",
    "FitConfig",
    "FitResult",
    "JobContext",
    "JobOutcome",
    "Stage",
    "TrackedJob",
    "apply_stage",
    "augment_batch",
    "balanced_sample_weights",
    "evaluate",
    "fit",
    "freeze_frozen_batchnorm",
    "make_optimizer",
    "prepare_batch",
    "run_tracked_job",
    "schedule_from_config",
    "stage_for_epoch",
    "total_epochs",
    "train_one_epoch",
]
