"""The patch classifier of Table 1: input transform + backbone + global average pooling + one
linear layer."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from e2e_mammo.constants import PATCH_CLASSES
from e2e_mammo.models.backbones import build_backbone, out_channels
from e2e_mammo.models.input_transform import InputNormalization
from e2e_mammo.models.pretrained import load_imagenet_backbone
from e2e_mammo.plan.weights import imagenet_weights_path

#: The five patch classes, index 0 = background.
CLASS_NAMES = PATCH_CLASSES
PRETRAINED_CHOICES = ("none", "imagenet")


class PatchClassifier(nn.Module):
    """Grey patch (N,1,H,W), 0-255 scale -> ``input_norm`` (3 channels) -> backbone -> GAP ->
    ``head`` (logits).

    ``input_norm`` (:class:`~.input_transform.InputNormalization`) subtracts the training-set
    mean and scales as the backbone's weights expect; it is saved with the model. Works for any
    input of at least 32x32 pixels (the backbones downsample by 32).
    """

    def __init__(
        self,
        backbone: nn.Module,
        n_features: int,
        n_classes: int = 5,
        input_norm: InputNormalization | None = None,
    ) -> None:
        super().__init__()
        self.input_norm = input_norm if input_norm is not None else InputNormalization()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(n_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map for a grey (N,1,H,W) batch on the 0-255 scale."""
        return self.backbone(self.input_norm(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(self.features(x)), 1))


def build_patch_classifier(
    arch: str,
    n_classes: int = len(CLASS_NAMES),
    pretrained: str = "none",
    weights_path: str | Path | None = None,
    mean: float = 0.0,
    convention: str = "torchvision",
) -> PatchClassifier:
    """A :class:`PatchClassifier` on ``arch`` (``resnet50``/``vgg16``).

    ``pretrained="imagenet"`` loads torchvision's ImageNet weights from the local file found by
    :func:`~e2e_mammo.models.pretrained.imagenet_weights_path` (raises ``MissingWeightsError``
    when absent); ``"none"`` keeps torchvision's random initialisation. Both use torchvision's
    input ``convention`` (:mod:`~e2e_mammo.models.input_transform`) with the training-set
    ``mean`` (0-255 scale).
    """
    if pretrained not in PRETRAINED_CHOICES:
        raise ValueError(f"pretrained must be one of {PRETRAINED_CHOICES}, got {pretrained!r}")
    backbone = build_backbone(arch)
    if pretrained == "imagenet":
        load_imagenet_backbone(backbone, arch, imagenet_weights_path(arch, weights_path))
    norm = InputNormalization(mean, convention=convention)
    return PatchClassifier(backbone, out_channels(arch), n_classes, input_norm=norm)
