"""Networks: named-block backbones, the patch classifier, local ImageNet weights.

The names below are imported on first use (PEP 562), so that importing a torch-free submodule
(``pretrained``'s file lookup, ``top_spec``: what the workflow's parse needs) does not import
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from e2e_mammo.lazy import lazy_exports

_EXPORTS = {
    "ARCHS": "backbones",
    "block_names": "backbones",
    "build_backbone": "backbones",
    "out_channels": "backbones",
    "remap_torchvision_state_dict": "backbones",
    "CLASS_NAMES": "patch_classifier",
    "PatchClassifier": "patch_classifier",
    "build_patch_classifier": "patch_classifier",
    "MissingWeightsError": "pretrained",
    "imagenet_weights_path": "pretrained",
    "load_imagenet_backbone": "pretrained",
    "weights_file_name": "pretrained",
}

if TYPE_CHECKING:
    from e2e_mammo.models.backbones import (
        ARCHS,
        block_names,
        build_backbone,
        out_channels,
        remap_torchvision_state_dict,
    )
    from e2e_mammo.models.patch_classifier import (
        CLASS_NAMES,
        PatchClassifier,
        build_patch_classifier,
    )
    from e2e_mammo.models.pretrained import (
        MissingWeightsError,
        imagenet_weights_path,
        load_imagenet_backbone,
        weights_file_name,
    )


__all__ = [
    "ARCHS",
    "CLASS_NAMES",
    "MissingWeightsError",
    "PatchClassifier",
    "block_names",
    "build_backbone",
    "build_patch_classifier",
    "imagenet_weights_path",
    "load_imagenet_backbone",
    "out_channels",
    "remap_torchvision_state_dict",
    "weights_file_name",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
