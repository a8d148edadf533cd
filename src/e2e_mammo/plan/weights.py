"""Locating torchvision's ImageNet weights from local files (never downloaded).

The weights are looked up where torchvision itself caches them,
``$TORCH_HOME/hub/checkpoints/<file>`` (``TORCH_HOME`` defaults to ``~/.cache/torch``), with the
file name of torchvision's weight enums (``ResNet50_Weights.IMAGENET1K_V1`` /
``VGG16_Weights.IMAGENET1K_V1``), so a file downloaded once by torchvision on any machine can be
copied in as is. The URLs are kept here as a table (``tests/models/test_pretrained.py`` checks
it equals torchvision's enums) so that finding the file imports neither torch nor
torchvision: the workflow's parse does it for every Table 1 row.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

#: torchvision's ``ResNet50_Weights.IMAGENET1K_V1.url`` / ``VGG16_Weights.IMAGENET1K_V1.url``.
WEIGHT_URLS = {
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}


def _check_arch(arch: str) -> None:
    """The check (and message) of :func:`e2e_mammo.models.backbones._check_arch`, torch-free."""
    if arch not in WEIGHT_URLS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(WEIGHT_URLS)}")


class MissingWeightsError(FileNotFoundError):
    """The ImageNet weights file is not on disk; the message says which file to put where."""


def weights_file_name(arch: str) -> str:
    """torchvision's file name of the ImageNet weights, e.g. ``resnet50-0676ba61.pth``."""
    _check_arch(arch)
    return Path(urlparse(WEIGHT_URLS[arch]).path).name


def weights_url(arch: str) -> str:
    """Where torchvision would download the file from (for the error message only)."""
    _check_arch(arch)
    return WEIGHT_URLS[arch]


def torch_home() -> Path:
    """``$TORCH_HOME`` or ``~/.cache/torch`` (the default of torchvision's cache)."""
    return Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch").expanduser()


def imagenet_weights_path(arch: str, weights_path: str | Path | None = None) -> Path:
    """The local ImageNet weights file for ``arch``.

    ``weights_path`` (an explicit file) wins; otherwise
    ``$TORCH_HOME/hub/checkpoints/<torchvision file name>``. Raises :class:`MissingWeightsError`
    when the file is absent.
    """
    name = weights_file_name(arch)
    if weights_path is not None:
        path = Path(weights_path).expanduser()
        if path.is_file():
            return path
        raise MissingWeightsError(
            f"ImageNet weights for {arch} not found at {path} (the explicit weights_path). Put "
            f"torchvision's file {name} there (downloadable from {weights_url(arch)}), or set "
            f"`pretrained: none` to train from random initialisation."
        )
    path = torch_home() / "hub" / "checkpoints" / name
    if path.is_file():
        return path
    raise MissingWeightsError(
        f"ImageNet weights for {arch} not found: expected the file {path}. Put torchvision's "
        f"file {name} into {path.parent} (downloadable from {weights_url(arch)}; or set "
        f"TORCH_HOME so that $TORCH_HOME/hub/checkpoints/{name} exists, or pass an explicit "
        f"weights path), or set `pretrained: none` to train from random initialisation."
    )
