"""The new top layers of a whole-image classifier (paper section 2.2, Tables 2 and 3).

A top is described by a plain dict (as in ``params.yaml``):

* ``{"type": "resnet", "blocks": [[L, M, N, K], ...]}``: per entry one Resnet block
  ``[L-M-N] x K``: K bottleneck units (conv1x1 L -> BN -> ReLU, conv3x3 M -> BN -> ReLU,
  conv1x1 N -> BN, + shortcut, ReLU). The first unit of each block has stride 2 on its first
  (1x1) convolution, as the paper says ("uses stride=2 in the first convolutional layer") and
  the authors' ``bottleneck_org`` does (not torchvision's v1.5 placement on the 3x3), and a
  projection shortcut (1x1 conv stride 2 + BN); the others identity shortcuts. The paper's
  ``[512-512-1024] x 2`` is ``[512, 512, 1024, 2]``.
* ``{"type": "vgg", "blocks": [[N, K], ...]}``: per entry one VGG block ``N x K``:
  K x (conv3x3 pad 1, depth N, + BN + ReLU), then a 2x2 max-pool. The paper's ``256 x 1`` is
  ``[256, 1]``.
* either of the above with ``"heatmap": true``: the patch classifier's heatmap
  (:mod:`~e2e_mammo.models.heatmap`) is inserted below the blocks, which then take its 5
  channels in (handled by :mod:`~e2e_mammo.models.whole_image`).
* ``{"type": "fc", "pool": P, "units": [FC1, FC2]}``: on the heatmap: P x P max-pool (stride
  P), flatten, then FC1 and FC2 (each Linear + BatchNorm1d + ReLU), then the output Linear,
  plus a shortcut Linear from the flattened pooled heatmap added to the output logits.

Convolutional tops end in global average pooling and one Linear layer (the image's logits).
New layers are initialised as torchvision does: convs kaiming-normal (fan_out, relu), BN weight
1 and bias 0, Linear layers PyTorch's default.

In training mode, BatchNorm needs more than one value per channel: a batch of one image with a
1x1 feature map (or any batch of one through the ``fc`` top) only works in eval mode.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import nn

# The spec's checks and table cells are torch-free (the workflow's parse needs them); they are
# re-exported here.
from e2e_mammo.plan.tops import validate_top


def _init_conv_bn(module: nn.Module) -> None:
    """torchvision's initialisation of the convs and batch norms in ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BottleneckUnit(nn.Module):
    """One bottleneck unit ``[L-M-N]``: conv1x1 L (``stride``: the paper's "stride=2 in the
    first convolutional layer"), conv3x3 M, conv1x1 N, each with BN, ReLU after the first two
    and after the addition of the shortcut (a 1x1 conv with ``stride`` + BN when ``project``,
    else identity, which needs ``in_channels == N``)."""

    def __init__(
        self,
        in_channels: int,
        depths: tuple[int, int, int],
        stride: int = 1,
        project: bool = False,
    ) -> None:
        super().__init__()
        d1, d2, d3 = depths
        if not project and (stride != 1 or in_channels != d3):
            raise ValueError("an identity shortcut needs stride 1 and in_channels == N")
        self.conv1 = nn.Conv2d(in_channels, d1, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(d1)
        self.conv2 = nn.Conv2d(d1, d2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(d2)
        self.conv3 = nn.Conv2d(d2, d3, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(d3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(
                nn.Conv2d(in_channels, d3, 1, stride=stride, bias=False), nn.BatchNorm2d(d3)
            )
            if project
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def resnet_stage(in_channels: int, depths: tuple[int, int, int], units: int) -> nn.Sequential:
    """A Resnet block ``[L-M-N] x units``: the first unit strided (2) with a projection
    shortcut, the others identity shortcuts; ``depths = (L, M, N)``. Output channels N."""
    depths = tuple(int(d) for d in depths)
    if len(depths) != 3 or min(depths) < 1 or units < 1 or in_channels < 1:
        raise ValueError(f"bad resnet stage: in={in_channels} depths={depths} units={units}")
    layers = [BottleneckUnit(in_channels, depths, stride=2, project=True)]
    layers += [BottleneckUnit(depths[2], depths) for _ in range(units - 1)]
    stage = nn.Sequential(*layers)
    _init_conv_bn(stage)
    return stage


def vgg_stage(in_channels: int, depth: int, convs: int) -> nn.Sequential:
    """A VGG block ``depth x convs``: ``convs`` x (conv3x3 pad 1 + BN + ReLU), then
    ``MaxPool2d(2, ceil_mode=True)``. ``ceil_mode`` keeps an odd last row/column (as a
    'same'-padded Keras pool does) and, above all, lets a 1x1 feature map (tiny demo images)
    pass as 1x1 instead of vanishing to 0x0."""
    if in_channels < 1 or depth < 1 or convs < 1:
        raise ValueError(f"bad vgg stage: in={in_channels} depth={depth} convs={convs}")
    layers: list[nn.Module] = []
    channels = in_channels
    for _ in range(convs):
        layers += [
            nn.Conv2d(channels, depth, 3, padding=1),
            nn.BatchNorm2d(depth),
            nn.ReLU(inplace=True),
        ]
        channels = depth
    layers.append(nn.MaxPool2d(2, ceil_mode=True))
    stage = nn.Sequential(*layers)
    _init_conv_bn(stage)
    return stage


class FCTop(nn.Module):
    """Heatmap -> max-pool P x P (stride P, ``ceil_mode``) -> flatten (``in_features``) ->
    [Linear + BatchNorm1d + ReLU] per entry of ``units`` -> Linear(n_classes), plus the
    shortcut Linear(in_features, n_classes) added to the logits.

    ``in_features`` fixes the heatmap size, hence the image size, at build time.
    """

    def __init__(self, in_features: int, pool: int, units: Sequence[int], n_classes: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.pool = nn.MaxPool2d(pool, stride=pool, ceil_mode=True)
        layers: list[nn.Module] = []
        width = in_features
        for u in units:
            layers += [nn.Linear(width, u), nn.BatchNorm1d(u), nn.ReLU(inplace=True)]
            width = u
        layers.append(nn.Linear(width, n_classes))
        self.fc = nn.Sequential(*layers)
        self.shortcut = nn.Linear(in_features, n_classes)
        _init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.flatten(self.pool(x), 1)
        if z.shape[1] != self.in_features:
            raise ValueError(
                f"the fc top was built for {self.in_features} pooled heatmap values, got "
                f"{z.shape[1]} (heatmap {tuple(x.shape[1:])}): the image size must match "
                "the one it was built for"
            )
        return self.fc(z) + self.shortcut(z)


def fc_in_features(channels: int, heatmap_hw: tuple[int, int], pool: int) -> int:
    """F = channels x ceil(h/P) x ceil(w/P): the flattened size after the fc top's max-pool."""
    h, w = heatmap_hw
    return channels * math.ceil(h / pool) * math.ceil(w / pool)


def build_top(
    spec: Mapping,
    in_channels: int,
    n_classes: int = 2,
    heatmap_hw: tuple[int, int] | None = None,
) -> nn.Module:
    """The top of ``spec``: feature map (N, in_channels, h, w) -> logits (N, n_classes).

    ``resnet``/``vgg``: the blocks (``block1`` .. ``blockN``), then global average pooling,
    flatten and ``fc`` = Linear(C_last, n_classes). ``fc``: :class:`FCTop` on the heatmap of
    size ``heatmap_hw`` (required; ``in_channels`` = the heatmap's channels).
    """
    validate_top(spec)
    kind = spec["type"]
    if kind == "fc":
        if heatmap_hw is None:
            raise ValueError("an 'fc' top needs heatmap_hw (the heatmap's height and width)")
        pool = int(spec["pool"])
        features = fc_in_features(in_channels, heatmap_hw, pool)
        return FCTop(features, pool, [int(u) for u in spec["units"]], n_classes)
    stages: list[tuple[str, nn.Module]] = []
    channels = in_channels
    for i, block in enumerate(spec["blocks"]):
        if kind == "resnet":
            l_, m_, n_, k_ = (int(v) for v in block)
            stages.append((f"block{i + 1}", resnet_stage(channels, (l_, m_, n_), k_)))
            channels = n_
        else:
            n_, k_ = (int(v) for v in block)
            stages.append((f"block{i + 1}", vgg_stage(channels, n_, k_)))
            channels = n_
    stages += [
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten(1)),
        ("fc", nn.Linear(channels, n_classes)),
    ]
    return nn.Sequential(OrderedDict(stages))
