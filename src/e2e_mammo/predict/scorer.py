"""A bundle as one network: grey images in, malignancy scores and heatmaps out.

:class:`BundleScorer` runs every member of a bundle on a batch (N, 1, H, W) of grey images on the
0-255 scale (16-bit PNG value x 255/65535), with flip test-time augmentation by default (the
four flips of :func:`~e2e_mammo.evaluation.tta.flip_views`, as one batch or four,
:func:`~e2e_mammo.evaluation.tta.over_flip_views`; softmax averaged: the pipeline's A-AUC
score), and averages the members' malignant probabilities (the ensemble's
score). The heatmap comes from the same forward pass: each member's patch heatmap (its
``heatmap_head`` over its backbone's feature map, softmax over the five patch classes), the
malignant mass and calcification probabilities summed, each flipped view's map flipped back and
the four averaged, then averaged over the members (resized to the first member's grid). It costs
a pooling and a 1x1 convolution per member, no second pass. The same module is what
``e2e-mammo export`` writes to ONNX or TorchScript.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from e2e_mammo.constants import MALIGNANT_PATCH_CLASSES
from e2e_mammo.evaluation.tta import over_flip_views
from e2e_mammo.models.bundle import Bundle

MALIGNANT = 1  # index of the malignant class of a whole-image classifier


def unflip_mean(maps: torch.Tensor, n: int) -> torch.Tensor:
    """(4N, h, w) maps of the four flipped views -> (N, h, w): each flipped back, then averaged."""
    views = maps.view(4, n, *maps.shape[1:])
    return (views[0] + views[1].flip(-1) + views[2].flip(-2) + views[3].flip((-2, -1))) / 4


class BundleScorer(nn.Module):
    """Members' whole-image classifiers (and their heatmap layers) as one scoring network.

    ``forward(x)`` -> ``(malignant probability (N,), heatmap (N, h, w))``; a bundle without any
    heatmap layer gives a (N, 1, 1) heatmap of zeros (``has_heatmap`` False).
    """

    def __init__(self, models: list[nn.Module], heatmaps: list[nn.Module | None], tta: bool):
        super().__init__()
        self.models = nn.ModuleList(models)
        self.heatmaps = nn.ModuleList([h if h is not None else nn.Identity() for h in heatmaps])
        self.with_heatmap = [h is not None for h in heatmaps]
        self.tta = tta

    @property
    def has_heatmap(self) -> bool:
        return any(self.with_heatmap)

    def _member(
        self, model: nn.Module, heatmap: nn.Module, use_heatmap: bool, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = x.shape[0]
        features = over_flip_views(model.features, x) if self.tta else model.features(x)
        top = model.heatmap(features) if model.heatmap is not None else features
        probs = torch.softmax(model.head(top).float(), 1)[:, MALIGNANT]
        maps = None
        if use_heatmap:
            classes = heatmap(features).float()
            maps = classes[:, list(MALIGNANT_PATCH_CLASSES)].sum(1).clamp(0, 1)
        if self.tta:
            probs = probs.view(4, n).mean(0)
            maps = unflip_mean(maps, n) if maps is not None else None
        return probs, maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs, maps = [], []
        for model, heatmap, use in zip(self.models, self.heatmaps, self.with_heatmap, strict=True):
            p, m = self._member(model, heatmap, use, x)
            probs.append(p)
            if m is not None:
                if maps and m.shape[-2:] != maps[0].shape[-2:]:
                    m = F.interpolate(m[:, None], size=maps[0].shape[-2:], mode="bilinear")[:, 0]
                maps.append(m)
        score = torch.stack(probs).mean(0)
        if not maps:
            return score, torch.zeros(x.shape[0], 1, 1, dtype=score.dtype, device=x.device)
        return score, torch.stack(maps).mean(0)


def bundle_scorer(bundle: Bundle, tta: bool = True) -> BundleScorer:
    """The :class:`BundleScorer` of a loaded bundle (eval mode)."""
    members = bundle.members
    return BundleScorer([m.model for m in members], [m.heatmap for m in members], tta).eval()
