"""A raw loader batch made ready for a network: moved to its device, on the 0-255 scale, augmented.

Input scaling, as in the authors' code: 16-bit PNG values are rescaled to the 0-255 scale
(``x * 255/65535``, their rescale factor 0.003891) and augmented (:mod:`.augment`); the
network's own first module subtracts the training-set mean and scales for its weights
(:mod:`e2e_mammo.models.input_transform`). Training, the two-step baseline and the heatmap
figures all prepare their batches here.
"""

from __future__ import annotations

import torch

from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.data.augment import AugmentConfig, augment_batch


def prepare_batch(
    x: torch.Tensor,
    *,
    device: torch.device | str,
    augment_cfg: AugmentConfig | None = None,
    generator: torch.Generator | None = None,
    scale: float = RESCALE_16BIT,
    channels_last: bool = False,
) -> torch.Tensor:
    """Raw (N,1,H,W) batch -> float32 on ``device`` on the 0-255 scale, augmented if asked."""
    device = torch.device(device)
    x = x.to(device, non_blocking=True).to(torch.float32) * scale
    if augment_cfg is not None:
        if generator is None:
            raise ValueError("augmentation needs a generator")
        x = augment_batch(x, generator, augment_cfg)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
