"""The whole-image classifier (Fig. 1): the patch classifier's layers, then new top layers.

``input_norm`` and ``backbone`` are the (trained) patch classifier's; ``heatmap`` is its
classifier head applied densely (:class:`~e2e_mammo.models.heatmap.PatchHeatmap`, present for
``fc`` tops and for conv tops with ``heatmap: true``); ``head`` the new top layers
(:func:`~e2e_mammo.models.top_layers.build_top`). Training stage ``"head"``
(:func:`~e2e_mammo.training.staged.apply_stage`) trains only ``head``; the heatmap belongs to
the patch classifier part (frozen in stage 1, trained in stage 2).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from e2e_mammo.constants import IMAGE_CLASSES, PATCH_CLASSES
from e2e_mammo.models.backbones import ARCHS, out_channels
from e2e_mammo.models.heatmap import (
    HEATMAP_ACTIVATIONS,
    PatchHeatmap,
    heatmap_size,
    heatmap_window,
)
from e2e_mammo.models.input_transform import InputNormalization
from e2e_mammo.models.patch_classifier import PatchClassifier
from e2e_mammo.models.top_layers import build_top
from e2e_mammo.plan.tops import uses_heatmap, validate_top


def _down(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def feature_map_size(arch: str, image_size: tuple[int, int]) -> tuple[int, int]:
    """The backbone's feature map (h, w) for an input of ``image_size`` (H, W), analytically.

    ResNet50: 7x7/2 pad 3 conv, 3x3/2 pad 1 max-pool, then three stride-2 3x3 pad-1 stages
    (each ``(s - 1) // 2 + 1``). VGG16: five 2x2 max-pools (floor). Raises ``ValueError`` when
    the image is too small to leave at least 1x1.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
    out = []
    for s in image_size:
        s = int(s)
        if arch == "resnet50":
            s = _down(s, 7, 2, 3)
            s = _down(s, 3, 2, 1)
            for _ in range(3):
                s = _down(s, 3, 2, 1)
        else:
            for _ in range(5):
                s //= 2
        out.append(s)
    if min(out) < 1:
        raise ValueError(f"image size {tuple(image_size)} is too small for {arch}")
    return out[0], out[1]


@contextlib.contextmanager
def _no_running_stats(module: nn.Module) -> Iterator[None]:
    """While active, batch norms in ``module`` update throw-away copies of their running
    statistics (the recomputation of a checkpointed segment must not count the batch twice;
    the op itself, and what it saves for backward, stay the same as in the forward pass)."""
    names = ("running_mean", "running_var", "num_batches_tracked")
    saved = []
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            originals = {n: getattr(m, n) for n in names}
            saved.append((m, originals))
            for n, t in originals.items():
                if t is not None:
                    setattr(m, n, t.clone())
    try:
        yield
    finally:
        for m, originals in saved:
            for n, t in originals.items():
                setattr(m, n, t)


class WholeImageClassifier(nn.Module):
    """Grey image (N,1,H,W), 0-255 scale -> logits (N, n_classes):
    ``head(heatmap(backbone(input_norm(x))))`` (no heatmap when ``heatmap`` is None).

    ``activation_checkpointing`` (a plain attribute, not saved): when True, in training mode
    with grad enabled, each top-level block of the backbone is run through
    ``torch.utils.checkpoint`` (non-reentrant): its activations are recomputed in the backward
    pass instead of stored, trading compute for memory (the paper's 1152x896 on a small GPU).
    Gradients are unchanged; batch-norm running statistics are updated once, as without it.
    """

    def __init__(
        self,
        input_norm: InputNormalization,
        backbone: nn.Module,
        head: nn.Module,
        heatmap: PatchHeatmap | None = None,
    ) -> None:
        super().__init__()
        self.input_norm = input_norm
        self.backbone = backbone
        self.heatmap = heatmap
        self.head = head
        self.activation_checkpointing = False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map for a grey batch on the 0-255 scale."""
        f = self.input_norm(x)
        if self.activation_checkpointing and self.training and torch.is_grad_enabled():
            for child in self.backbone.children():
                f = checkpoint(
                    child,
                    f,
                    use_reentrant=False,
                    context_fn=lambda c=child: (contextlib.nullcontext(), _no_running_stats(c)),
                )
            return f
        return self.backbone(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        if self.heatmap is not None:
            f = self.heatmap(f)
        return self.head(f)


def build_whole_image_classifier(
    patch_model: PatchClassifier,
    arch: str,
    top: Mapping,
    image_size: tuple[int, int],
    patch_size: int,
    n_classes: int = 2,
    heatmap_activation: str = "relu",
) -> WholeImageClassifier:
    """Convert ``patch_model`` (left unmodified: its modules are deep-copied) into a
    whole-image classifier for images of ``image_size`` (H, W) with the top layers ``top``.

    With a heatmap (``fc`` tops, or ``top["heatmap"]``) its activation is ReLU by default, as
    the paper states (section 2.2): "when we refer to the heatmap in a whole image classifier,
    the activation is always assumed to be ReLU unless otherwise stated". The heatmap window is
    :func:`~e2e_mammo.models.heatmap.heatmap_window` of ``patch_size`` and the top takes the
    heatmap's channels in; otherwise the backbone's ``out_channels(arch)``. ``image_size`` only
    matters to ``fc`` tops (their flattened size); conv tops accept any size.
    """
    validate_top(top)
    if heatmap_activation not in HEATMAP_ACTIVATIONS:
        raise ValueError(
            f"heatmap_activation must be one of {HEATMAP_ACTIVATIONS}, got {heatmap_activation!r}"
        )
    if patch_model.head.in_features != out_channels(arch):
        raise ValueError(
            f"the patch model's head takes {patch_model.head.in_features} features, but "
            f"{arch} gives {out_channels(arch)}: wrong arch?"
        )
    fhw = feature_map_size(arch, image_size)
    heatmap = None
    heatmap_hw = None
    in_channels = out_channels(arch)
    if uses_heatmap(top):
        window = heatmap_window(int(patch_size))
        heatmap = PatchHeatmap(patch_model.head, window, heatmap_activation)
        heatmap_hw = heatmap_size(fhw, window)
        in_channels = patch_model.head.out_features
    head = build_top(top, in_channels, n_classes=n_classes, heatmap_hw=heatmap_hw)
    model = WholeImageClassifier(
        copy.deepcopy(patch_model.input_norm), copy.deepcopy(patch_model.backbone), head, heatmap
    )
    return model.to(patch_model.head.weight.device)


def _plain(value: Any) -> Any:
    """Mappings -> dicts, tuples -> lists, recursively (what ``torch.load(weights_only)`` and
    YAML/JSON take)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def whole_image_spec(
    arch: str,
    top: Mapping,
    image_size: tuple[int, int],
    patch_size: int,
    n_classes: int = 2,
    heatmap_activation: str = "relu",
) -> dict:
    """The plain-type spec saved with a whole-image model (``saved.save_model``), enough to
    rebuild it with :func:`build_whole_image_classifier`."""
    validate_top(top)
    return {
        "arch": str(arch),
        "top": _plain(top),
        "image_size": [int(s) for s in image_size],
        "patch_size": int(patch_size),
        "n_classes": int(n_classes),
        "class_names": list(IMAGE_CLASSES),
        "heatmap_activation": str(heatmap_activation),
        "patch_n_classes": len(PATCH_CLASSES),
    }
