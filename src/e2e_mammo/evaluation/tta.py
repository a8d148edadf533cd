"""Flip test-time augmentation: the mean of the softmax over four flips of each image.

The four views (original, horizontal flip, vertical flip, both; the authors' ``flip_all_img``)
go through the network as one batch of 4N, so TTA costs one forward pass of a larger batch.
"""

from __future__ import annotations

import torch
from torch import nn


def flip_views(x: torch.Tensor) -> torch.Tensor:
    """(N,C,H,W) -> (4N,C,H,W): original, horizontal, vertical, both flips, stacked in that
    order."""
    return torch.cat([x, x.flip(3), x.flip(2), x.flip((2, 3))])


def flip_tta_probs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits of the original views, softmax averaged over the four flips), both (N, K)."""
    n = x.shape[0]
    logits = model(flip_views(x)).float()
    probs = torch.softmax(logits, 1).view(4, n, -1).mean(0)
    return logits[:n], probs
