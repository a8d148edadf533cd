"""The patch classifier of Table 1: backbone + global average pooling + one linear layer."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from e2e_mammo.constants import PATCH_CLASSES
from e2e_mammo.models.backbones import build_backbone, out_channels
from e2e_mammo.models.pretrained import imagenet_weights_path, load_imagenet_backbone

#: The five patch classes, index 0 = background.
CLASS_NAMES = PATCH_CLASSES
PRETRAINED_CHOICES = ("none", "imagenet")


class PatchClassifier(nn.Module):
    """Grey patch (N,1,H,W) -> 3 identical channels -> backbone -> GAP -> ``head`` (logits).

    As in the authors' code, the grey channel is duplicated to 3 (no ImageNet per-channel
    normalisation; the scalar mean is subtracted by the training loop). Works for any input of
    at least 32x32 pixels (the backbones downsample by 32).
    """

    def __init__(self, backbone: nn.Module, n_features: int, n_classes: int = 5) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(n_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map for a (N,1,H,W) or (N,3,H,W) batch."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def build_patch_classifier(
    arch: str,
    n_classes: int = len(CLASS_NAMES),
    pretrained: str = "none",
    weights_path: str | Path | None = None,
) -> PatchClassifier:
    """A :class:`PatchClassifier` on ``arch`` (``resnet50``/``vgg16``).

    ``pretrained="imagenet"`` loads torchvision's ImageNet weights from the local file found by
    :func:`~e2e_mammo.models.pretrained.imagenet_weights_path` (raises ``MissingWeightsError``
    when absent); ``"none"`` keeps torchvision's random initialisation.
    """
    if pretrained not in PRETRAINED_CHOICES:
        raise ValueError(f"pretrained must be one of {PRETRAINED_CHOICES}, got {pretrained!r}")
    backbone = build_backbone(arch)
    if pretrained == "imagenet":
        load_imagenet_backbone(backbone, arch, imagenet_weights_path(arch, weights_path))
    return PatchClassifier(backbone, out_channels(arch), n_classes)
