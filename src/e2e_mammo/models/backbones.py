"""Convolutional backbones (ResNet50, VGG16) with named blocks, cut by name, never by index.

The architectures are torchvision's (``weights=None``); only the convolutional part is kept and
regrouped into named children so that training stages can freeze/unfreeze whole blocks by name:

* ``resnet50``: ``stem`` (conv1, bn1, relu, maxpool), ``layer1`` .. ``layer4``
  (``layer4`` = Keras ``res5a``-``res5c``; a single bottleneck unit is ``layer3.5`` etc.).
* ``vgg16``: ``block1`` .. ``block5``, each the convs + ReLUs + max-pool of one VGG block, rebuilt
  from torchvision's ``features`` by splitting it after every ``MaxPool2d``.

:func:`remap_torchvision_state_dict` maps a torchvision state dict (the layout of the
``resnet50-*.pth`` / ``vgg16-*.pth`` ImageNet files) onto these names; the classifier keys
(``fc.*`` / ``classifier.*``) are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models import vgg

ARCHS = ("resnet50", "vgg16")
_OUT_CHANNELS = {"resnet50": 2048, "vgg16": 512}
_RESNET_STEM = ("conv1", "bn1", "relu", "maxpool")
_RESNET_LAYERS = ("layer1", "layer2", "layer3", "layer4")


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")


def out_channels(arch: str) -> int:
    """Number of channels of the backbone's last feature map."""
    _check_arch(arch)
    return _OUT_CHANNELS[arch]


def block_names(arch: str) -> list[str]:
    """Names of the backbone's top-level blocks, bottom to top."""
    _check_arch(arch)
    if arch == "resnet50":
        return ["stem", *_RESNET_LAYERS]
    return [f"block{i}" for i in range(1, 6)]


#: Keras layers of the paper's patch-model head above the backbone: ResNet50 (Keras 2.0) has its
#: 7x7 ``avg_pool``, then GlobalAveragePooling, Dropout, Dense; VGG16 GAP, Dropout, Dense.
KERAS_HEAD_LAYERS = {"resnet50": 4, "vgg16": 3}


def keras_layer_count(module: nn.Module, arch: str) -> int:
    """How many Keras layers ``module`` (a block of :func:`build_backbone`) is in the authors'
    Keras model: the unit in which the paper counts "the top N layers".

    ResNet50: every convolution, batch norm, activation and addition of a bottleneck unit is a
    layer (identity unit 10, projection unit 12). VGG16: each convolution (ReLU fused in Keras'
    ``Conv2D``) and each max-pool.
    """
    _check_arch(arch)
    if arch == "vgg16":
        kinds = (nn.Conv2d, nn.MaxPool2d)
        return sum(isinstance(m, kinds) for m in module.modules())
    units = [m for m in module.modules() if isinstance(m, tvm.resnet.Bottleneck)]
    count = 0
    for unit in units:
        count += sum(isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) for m in unit.modules())
        count += 4  # three ReLU activations and the residual addition
    return count


def top_layer_count(backbone: nn.Module, arch: str, top_blocks: list[str]) -> int:
    """Keras layers trained in the "top" stage: the head plus the named ``top_blocks``.

    ResNet50 with ``["layer3.5", "layer4"]`` gives the paper's 46 (4 + res4f 10 + res5 32);
    VGG16 with ``["block4", "block5"]`` its 11 (3 + 4 + 4).
    """
    blocks = [backbone.get_submodule(name) for name in top_blocks]
    return KERAS_HEAD_LAYERS[arch] + sum(keras_layer_count(b, arch) for b in blocks)


def _vgg16_features() -> nn.Sequential:
    """torchvision's VGG16 ``features`` (what ``vgg16(weights=None).features`` builds, without
    allocating the 120M-parameter classifier)."""
    return vgg.make_layers(vgg.cfgs["D"], batch_norm=False)


def _vgg_blocks(features: nn.Sequential) -> list[list[tuple[int, nn.Module]]]:
    """Split torchvision's VGG ``features`` after each max-pool: [[(global index, module)]]."""
    blocks: list[list[tuple[int, nn.Module]]] = [[]]
    for i, module in enumerate(features):
        blocks[-1].append((i, module))
        if isinstance(module, nn.MaxPool2d):
            blocks.append([])
    return [b for b in blocks if b]


def build_backbone(arch: str) -> nn.Sequential:
    """The convolutional part of torchvision's ``arch`` (random init) with named blocks."""
    _check_arch(arch)
    if arch == "resnet50":
        net = tvm.resnet50(weights=None)
        stem = nn.Sequential(OrderedDict((n, getattr(net, n)) for n in _RESNET_STEM))
        children = [("stem", stem)] + [(n, getattr(net, n)) for n in _RESNET_LAYERS]
        return nn.Sequential(OrderedDict(children))
    features = _vgg16_features()
    for m in features.modules():  # torchvision VGG's own initialisation of the conv layers
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(m.bias, 0)
    blocks = [
        (f"block{b + 1}", nn.Sequential(*[m for _, m in block]))
        for b, block in enumerate(_vgg_blocks(features))
    ]
    return nn.Sequential(OrderedDict(blocks))


def _vgg_key_map() -> dict[str, str]:
    """torchvision ``features.<i>`` -> our ``block<b>.<j>`` (derived from the layout)."""
    mapping = {}
    for b, block in enumerate(_vgg_blocks(_vgg16_features())):
        for j, (i, _) in enumerate(block):
            mapping[f"features.{i}"] = f"block{b + 1}.{j}"
    return mapping


def remap_torchvision_state_dict(
    state_dict: Mapping[str, torch.Tensor], arch: str
) -> OrderedDict[str, torch.Tensor]:
    """Map a torchvision ``resnet50``/``vgg16`` state dict onto :func:`build_backbone`'s names.

    Classifier keys (``fc.*``, ``classifier.*``) are dropped; any other key is kept unchanged
    if it does not match (so that a strict ``load_state_dict`` reports it).
    """
    _check_arch(arch)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    if arch == "resnet50":
        for key, value in state_dict.items():
            head = key.split(".", 1)[0]
            if head == "fc":
                continue
            out[f"stem.{key}" if head in _RESNET_STEM else key] = value
        return out
    mapping = _vgg_key_map()
    for key, value in state_dict.items():
        if key.startswith("classifier."):
            continue
        prefix, _, rest = key.rpartition(".")
        out[f"{mapping.get(prefix, prefix)}.{rest}"] = value
    return out
