"""What reaches the first convolution: the input transform of a network, part of the network.

The pipeline hands every network grey images on the 0-255 scale (16-bit PNG values x 255/65535,
then augmented during training). The network's first module, :class:`InputNormalization`, turns
them into what its weights expect, so training, evaluation and predict cannot disagree: the
transform and its numbers travel inside the saved ``state_dict``.

Conventions (``convention``):

* ``"torchvision"`` (default; torchvision's ImageNet weights and our random initialisation):
  each of the 3 channels c gets ``(x - m) / 255 / std_c`` with ``std = (0.229, 0.224, 0.225)``
  (ImageNet's), where ``x`` is the grey value on the 0-255 scale and ``m`` the training set's
  mean grey value (0-255 scale). torchvision's weights expect ``(x/255 - mean_c) / std_c``; we
  keep the paper's centring on the training-set mean (section 3.1.2) in place of ImageNet's
  per-channel means, and torchvision's scale, so inputs have the spread its frozen batch-norm
  statistics were fitted to.
* ``"caffe"``: the paper's Keras (Caffe-style) weights: ``x - m`` on the 0-255 scale, the grey
  value copied to 3 channels. Right for weights trained that way, about 58x too large for
  torchvision's.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_STD = (0.229, 0.224, 0.225)
CONVENTIONS = ("torchvision", "caffe")


class InputNormalization(nn.Module):
    """Grey (N,1,H,W) on the 0-255 scale -> (N,3,H,W) ``(x - mean) * scale / std_c``.

    ``mean``, ``scale`` and ``std`` are buffers (saved with the model); ``set_mean`` changes the
    training-set mean (e.g. INbreast's own when fine-tuning).
    """

    def __init__(self, mean: float = 0.0, convention: str = "torchvision") -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        self.convention = convention
        scale, std = (
            (1.0 / 255.0, IMAGENET_STD) if convention == "torchvision" else (1.0, (1.0,) * 3)
        )
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("scale", torch.tensor(scale))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def set_mean(self, mean: float) -> None:
        """Set the training-set mean grey value (0-255 scale)."""
        self.mean.fill_(float(mean))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 1:
            raise ValueError(f"expected grey (N,1,H,W) input, got {tuple(x.shape)}")
        return (x - self.mean) * self.scale / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return f"convention={self.convention!r}, mean={float(self.mean):.4f}"

    def describe(self) -> dict:
        """The transform as plain numbers (for bundles, result files and docs)."""
        return {
            "convention": self.convention,
            "input": "grey, 0-255 scale (16-bit PNG value x 255/65535)",
            "mean": float(self.mean),
            "scale": float(self.scale),
            "std": [float(s) for s in self.std.flatten()],
        }
