"""Tiny synthetic patch data and loaders shared by the training tests."""

from __future__ import annotations

import numpy as np

from e2e_mammo.data import PatchArrayDataset, make_loader


def toy_patches(n: int, seed: int, size: int = 32, n_classes: int = 2) -> PatchArrayDataset:
    """Noisy 16-bit patches whose brightness grows with the class id (class = index % n)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    base = 12000 + labels[:, None, None] * (28000 // max(n_classes - 1, 1))
    images = base + rng.normal(0, 4000, (n, size, size))
    return PatchArrayDataset(np.clip(images, 0, 65535).astype(np.uint16), labels)


def toy_loaders(n_train=24, n_val=10, seed=3, batch_size=8, n_classes=5, size=32):
    """(train, val) loaders over toy patches; train shuffles per epoch with ``seed``."""
    train = make_loader(
        toy_patches(n_train, 0, size, n_classes),
        batch_size,
        shuffle=True,
        seed=seed,
        drop_single=True,
    )
    val = make_loader(toy_patches(n_val, 1, size, n_classes), batch_size, shuffle=False)
    return train, val


def tiny_classifier(n_classes: int = 5):
    """A small network shaped like the pipeline's (a ``backbone`` with batch norm and a
    ``layer4`` block, a ``head``), for tests of the machinery around training (staged
    freezing, checkpoints, exact resume, runs), where a ResNet50's ~0.4 GB checkpoints would
    only cost time."""
    from collections import OrderedDict

    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                OrderedDict(
                    conv=nn.Conv2d(1, 4, 3),
                    bn=nn.BatchNorm2d(4),
                    relu=nn.ReLU(),
                    layer4=nn.Conv2d(4, 8, 3),
                    pool=nn.AdaptiveAvgPool2d(1),
                )
            )
            self.head = nn.Linear(8, n_classes)

        def forward(self, x):
            return self.head(self.backbone(x / 255.0).flatten(1))

    return Tiny()
