"""The patch classifier applied densely: a u x v x 5 grid of patch-class outputs (section 2.1).

The patch classifier is backbone -> global average pooling -> Linear(C, 5). On a whole image the
backbone gives a larger feature map; averaging it over one patch-sized window (``window`` cells
of the stride-32 map, 7 for 224-pixel patches: the authors' 7x7 ``AvgPool``) at stride 1 and
applying the same Linear layer as a 1x1 convolution gives the patch classifier's logits for every
patch position. Softmax over the classes gives the heatmap of the two-step baseline and of the
overlays (section 3.1.4); inside a whole-image classifier the activation is ReLU, as the paper
says (section 2.2: "when we refer to the heatmap in a whole image classifier, the activation is
always assumed to be ReLU unless otherwise stated") and the authors' code does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from e2e_mammo.models.patch_classifier import PatchClassifier

HEATMAP_ACTIVATIONS = ("softmax", "relu")
#: Pixels per feature-map cell of both backbones (ResNet50 and VGG16 downsample 32x).
STRIDE = 32


def heatmap_window(patch_size: int, stride: int = STRIDE) -> int:
    """The patch side in feature-map cells: ``max(1, round(patch_size / stride))``
    (224 px -> 7)."""
    if patch_size < 1 or stride < 1:
        raise ValueError(f"patch_size and stride must be >= 1, got {patch_size}, {stride}")
    return max(1, round(patch_size / stride))


def heatmap_size(feature_hw: tuple[int, int], window: int) -> tuple[int, int]:
    """The heatmap's (h, w) for a feature map of ``feature_hw``: ``h - window + 1`` per side,
    with the window clipped to the side (so a side shorter than the window gives 1)."""
    h, w = feature_hw
    return max(1, int(h) - window + 1), max(1, int(w) - window + 1)


class PatchHeatmap(nn.Module):
    """Feature map (N, C, h, w) -> heatmap (N, K, h - window + 1, w - window + 1).

    ``AvgPool2d(window, stride=1)``, then ``conv`` (1x1, C -> K) whose weight and bias are
    copies of the patch classifier's ``head`` (Linear(C, K)), then ``activation`` over the
    channels: ``"softmax"`` (the two-step baseline's heatmap) or ``"relu"`` (the paper's, inside
    whole-image classifiers).

    A feature map smaller than the window along a side (an image smaller than a patch) is
    pooled over that whole side instead of failing: the window is clipped per side to
    ``min(window, h)`` x ``min(window, w)``, so that side of the heatmap is 1.
    """

    def __init__(self, head: nn.Linear, window: int, activation: str = "softmax") -> None:
        super().__init__()
        if activation not in HEATMAP_ACTIVATIONS:
            raise ValueError(
                f"heatmap activation must be one of {HEATMAP_ACTIVATIONS}, got {activation!r}"
            )
        if int(window) != window or window < 1:
            raise ValueError(f"heatmap window must be an integer >= 1, got {window!r}")
        self.window = int(window)
        self.activation = activation
        w = head.weight
        self.conv = nn.Conv2d(
            head.in_features,
            head.out_features,
            1,
            bias=head.bias is not None,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            self.conv.weight.copy_(w.detach().reshape(self.conv.weight.shape))
            if head.bias is not None:
                self.conv.bias.copy_(head.bias.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = (min(self.window, x.shape[-2]), min(self.window, x.shape[-1]))
        z = self.conv(F.avg_pool2d(x, kernel, stride=1))
        return torch.softmax(z, dim=1) if self.activation == "softmax" else F.relu(z)

    def extra_repr(self) -> str:
        return f"window={self.window}, activation={self.activation!r}"


def patch_heatmap(patch_model: PatchClassifier, x: torch.Tensor, window: int) -> torch.Tensor:
    """The softmax heatmap (N, 5, u, v) of a grey batch ``x`` (N, 1, H, W), 0-255 scale.

    Runs ``patch_model.input_norm``, its backbone and a :class:`PatchHeatmap` built from its
    head under ``torch.inference_mode``, in eval mode (the model's mode is restored after).
    """
    was_training = patch_model.training
    patch_model.eval()
    heatmap = PatchHeatmap(patch_model.head, window, "softmax")
    try:
        with torch.inference_mode():
            return heatmap(patch_model.backbone(patch_model.input_norm(x)))
    finally:
        patch_model.train(was_training)
