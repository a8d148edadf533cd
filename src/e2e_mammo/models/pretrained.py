"""Loading torchvision's ImageNet weights into a backbone from a local file (never downloaded).

Where the file is looked for (``$TORCH_HOME/hub/checkpoints/<torchvision file name>``), torch-free,
is :mod:`e2e_mammo.plan.weights`; this module reads the file, checks it is the architecture's
weights and maps torchvision's names onto our named blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from e2e_mammo.plan.weights import weights_file_name

if TYPE_CHECKING:
    from torch import nn


def load_imagenet_backbone(backbone: nn.Module, arch: str, path: str | Path) -> nn.Module:
    """Load torchvision's ``arch`` ImageNet file at ``path`` into ``backbone`` (in place).

    The state dict is remapped onto the named blocks of
    :func:`~e2e_mammo.models.backbones.build_backbone`; a file that does not hold a torchvision
    ``arch`` state dict fails with a ``ValueError`` naming the file and the mismatching keys.
    """
    import torch

    from e2e_mammo.models.backbones import remap_torchvision_state_dict

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as a PyTorch state dict: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    remapped = remap_torchvision_state_dict(state, arch)
    own = backbone.state_dict()
    missing = sorted(set(own) - set(remapped))
    unexpected = sorted(set(remapped) - set(own))
    bad_shape = sorted(
        k for k in set(own) & set(remapped) if tuple(own[k].shape) != tuple(remapped[k].shape)
    )
    if missing or unexpected or bad_shape:
        parts = []
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", bad_shape),
        ):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{label}: {', '.join(keys[:5])}{more}")
        raise ValueError(
            f"{path}: not torchvision {arch} ImageNet weights ({weights_file_name(arch)}); "
            + "; ".join(parts)
        )
    backbone.load_state_dict(remapped, strict=True)
    return backbone
