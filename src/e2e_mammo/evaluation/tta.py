"""Flip test-time augmentation: the mean of the softmax over four flips of each image.

The four views (original, horizontal flip, vertical flip, both; the authors' ``flip_all_img``)
go through the network either as one batch of 4N or as four batches of N, whichever is faster
where the batch runs (:func:`one_pass_is_faster`): on a GPU one larger batch uses the device
better; on a CPU one batch of large images runs slower per image than four small ones (larger
activations, worse cache use; ``bench/bench_tta.py``), so there the views of images of
:data:`CPU_SPLIT_PIXELS` pixels or more go one at a time. Both give the same probabilities up to
float rounding (eval mode: no batch statistics).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: On a CPU, images of at least this many pixels are scored one view at a time. Measured with
#: ``bench/bench_tta.py`` on the 2-core machines (bench/README.md, "Flip TTA scoring"): one 4N
#: batch is slower than four passes at 256x192 (1.06x) and 1152x896 (1.12x), faster at 192x144
#: (0.87x) and 128x96 (0.68x).
CPU_SPLIT_PIXELS = 256 * 192


def flip_views(x: torch.Tensor) -> torch.Tensor:
    """(N,C,H,W) -> (4N,C,H,W): original, horizontal, vertical, both flips, stacked in that
    order."""
    return torch.cat([x, x.flip(3), x.flip(2), x.flip((2, 3))])


def one_pass_is_faster(x: torch.Tensor) -> bool:
    """Whether the four views of ``x`` (N,C,H,W) should go as one batch of 4N: on any device but
    the CPU, and on the CPU for images under :data:`CPU_SPLIT_PIXELS` pixels."""
    return x.device.type != "cpu" or x.shape[-2] * x.shape[-1] < CPU_SPLIT_PIXELS


def over_flip_views(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``fn`` (a network or part of one) on the four views of ``x``: (4N, ...) in
    :func:`flip_views`' order, run as one batch or as four (:func:`one_pass_is_faster`)."""
    if one_pass_is_faster(x):
        return fn(flip_views(x))
    return torch.cat([fn(v) for v in (x, x.flip(3), x.flip(2), x.flip((2, 3)))])


def flip_tta_probs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits of the original views, softmax averaged over the four flips), both (N, K)."""
    n = x.shape[0]
    logits = over_flip_views(model, x).float()
    probs = torch.softmax(logits, 1).view(4, n, -1).mean(0)
    return logits[:n], probs
