"""Networks: named-block backbones, the patch classifier, local ImageNet weights."""

from e2e_mammo.models.backbones import (
    ARCHS,
    block_names,
    build_backbone,
    out_channels,
    remap_torchvision_state_dict,
)
from e2e_mammo.models.patch_classifier import CLASS_NAMES, PatchClassifier, build_patch_classifier
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
