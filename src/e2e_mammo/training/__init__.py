"""Training: staged fine-tuning, batch augmentation, the epoch loop and checkpoints."""

from e2e_mammo.training.augment import AugmentConfig, augment_batch
from e2e_mammo.training.checkpoint import CheckpointConfigError
from e2e_mammo.training.loop import (
    RESCALE_16BIT,
    FitResult,
    balanced_sample_weights,
    evaluate,
    fit,
    prepare_batch,
    train_one_epoch,
)
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
    "RESCALE_16BIT",
    "AugmentConfig",
    "CheckpointConfigError",
    "FitResult",
    "Stage",
    "apply_stage",
    "augment_batch",
    "balanced_sample_weights",
    "evaluate",
    "fit",
    "freeze_frozen_batchnorm",
    "make_optimizer",
    "prepare_batch",
    "schedule_from_config",
    "stage_for_epoch",
    "total_epochs",
    "train_one_epoch",
]
