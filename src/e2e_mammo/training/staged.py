"""Staged fine-tuning: freeze, then unfreeze from the top with lower learning rates.

One mechanism for both schedules of the paper (the numbers come from ``params.yaml``):

* patch classifiers, pretrained (3 stages): 1e-3 ``head`` for 3 epochs; 1e-4 ``top`` for 10;
  1e-5 ``all`` for 37 (random init: one stage, constant 1e-3, ``all``);
* whole-image classifiers (2 stages): 1e-4 ``head`` (the newly added top layers), weight decay
  1e-3, 30 epochs; 1e-5 ``all``, weight decay 1e-2, 20 epochs.

``trainable`` of a :class:`Stage`:

* ``"head"``: only the newly added top (``model.head``: the final Linear of a patch
  classifier; for a whole-image model whatever module it exposes as its head attribute);
* ``"top"``: the head plus the backbone blocks named in ``top_blocks``;
* ``"all"``: every parameter.

``top_blocks`` -- our mapping of the paper's "top layer number" (46 for ResNet50, 11 for VGG16).
The paper counts Keras layers (every Conv, BN, Activation, Add, Pooling, Dropout and Dense layer)
from the top of the Keras patch model (backbone + GAP + Dropout + Dense);
:func:`e2e_mammo.models.backbones.top_layer_count` counts them on our blocks:

* VGG16, 11 layers = Dense, Dropout, GlobalAveragePooling (3) + block5 (3 conv + pool = 4) +
  block4 (4): exactly ``["block4", "block5"]`` (+ the head).
* ResNet50, 46 layers = Dense, Dropout, GlobalAveragePooling, the Keras 2.0 7x7 ``avg_pool`` (4)
  + res5 (projection unit 12 + two identity units of 10 = 32) + the last unit of res4 (res4f,
  10): exactly ``["layer3.5", "layer4"]`` (the default in params.yaml). ``["layer4"]`` alone
  would be 36. (The authors' code, by contrast, unfreezes from Keras layer index 162, i.e.
  only part of res5; see the code study.)

BatchNorm (deliberate choice): BN layers whose parameters are frozen are also kept in eval mode
during training (:func:`freeze_frozen_batchnorm`), so a frozen block is truly frozen: its running
statistics (ImageNet's, for a pretrained model) are not overwritten by the small mammography
batches, and train and inference see the same function. A BN layer that trains uses batch
statistics as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from e2e_mammo.plan.schedules import Stage

if TYPE_CHECKING:  # torch is imported where used: the workflow's parse needs no torch
    import torch
    from torch import nn


def apply_stage(
    model: nn.Module,
    stage: Stage,
    top_blocks: Sequence[str],
    head_attr: str = "head",
    backbone_attr: str = "backbone",
) -> list[nn.Parameter]:
    """Set ``requires_grad`` for ``stage`` and return the trainable parameters (model order).

    ``top_blocks`` are module names under ``model.<backbone_attr>`` (``"layer4"``,
    ``"block5"``, ``"layer3.5"``); an unknown name is an error, whatever the stage.
    """
    backbone = getattr(model, backbone_attr)
    blocks = []
    for name in top_blocks:
        try:
            blocks.append(backbone.get_submodule(name))
        except AttributeError as exc:
            names = [n for n, _ in backbone.named_children()]
            raise ValueError(
                f"top block {name!r} not found in the backbone (its blocks: {names})"
            ) from exc
    if stage.trainable == "all":
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in getattr(model, head_attr).parameters():
            p.requires_grad_(True)
        if stage.trainable == "top":
            for block in blocks:
                for p in block.parameters():
                    p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def freeze_frozen_batchnorm(model: nn.Module, fixed_stats: Sequence[str] = ()) -> None:
    """Put every BatchNorm layer whose parameters are all frozen into eval mode, and every
    BatchNorm layer under the submodules named in ``fixed_stats`` (their affine parameters may
    still train; their running statistics stay as they are).

    Call after ``model.train()``; see the module doc for why. ``fixed_stats=("backbone",)`` is
    the whole-image stage's choice at batch 2 (:mod:`e2e_mammo.training.whole_stage`).
    """
    from torch import nn

    fixed = [model.get_submodule(name) for name in fixed_stats]
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()
    for sub in fixed:
        for module in sub.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


#: Which trainable parameters get the stage's weight decay (:func:`make_optimizer`).
DECAY_CHOICES = ("all", "head_kernels")
#: Keras ``l2(wd)`` adds ``wd * sum(w**2)`` to the loss, a gradient of ``2 * wd * w``; torch's
#: ``Adam(weight_decay=d)`` adds ``d * w`` to the gradient. ``head_kernels`` uses ``d = 2 * wd``.
KERAS_L2_FACTOR = 2.0


def make_optimizer(
    params: Iterable[nn.Parameter],
    stage: Stage,
    decayed: Iterable[nn.Parameter] | None = None,
    decay_factor: float = 1.0,
) -> torch.optim.Adam:
    """Adam (the paper's optimiser) at the stage's learning rate and weight decay.

    torch's ``Adam(weight_decay=d)`` is coupled L2: it adds ``d * w`` to each gradient before
    the adaptive step (not AdamW's decoupled decay). ``decayed=None`` decays every parameter
    (the patch stage); otherwise only the parameters in ``decayed`` get
    ``decay_factor * stage.weight_decay`` and the others none (the whole-image stage: the new
    top layers' kernels, as the authors' Keras ``kernel_regularizer``).
    """
    import torch

    params = list(params)
    if decayed is None:
        return torch.optim.Adam(params, lr=stage.lr, weight_decay=stage.weight_decay)
    chosen = {id(p) for p in decayed}
    with_decay = [p for p in params if id(p) in chosen]
    without = [p for p in params if id(p) not in chosen]
    groups = [
        {"params": with_decay, "weight_decay": stage.weight_decay * decay_factor},
        {"params": without, "weight_decay": 0.0},
    ]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=stage.lr)


def head_kernels(model: nn.Module, head_attr: str = "head") -> list[nn.Parameter]:
    """The kernels (weights of 2 or more dimensions: convolutions and dense layers) of
    ``model.<head_attr>``; biases and batch-norm parameters are left out, as in Keras."""
    return [p for p in getattr(model, head_attr).parameters() if p.ndim > 1]
