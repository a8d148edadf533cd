"""Seeded batch order: a resumed run draws exactly the batches an uninterrupted one would.

Epoch ``e`` of a run with seed ``s`` shuffles with a generator seeded from ``(s, e, 0)``
(:func:`epoch_seed`), whatever happened before; so resuming at epoch ``e`` needs no saved sampler
state, and the order does not depend on the number of loader workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

#: Random streams of one epoch: batch order, augmentation, the model's own draws (dropout).
SHUFFLE_STREAM, AUGMENT_STREAM, MODEL_STREAM = 0, 1, 2


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed derived from ``(seed, epoch, stream)`` (see ``*_STREAM``)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(2)
    return int((int(state[0]) << 32 | int(state[1])) & ((1 << 63) - 1))


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A CPU generator seeded with :func:`epoch_seed`."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch, stream))


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of indices in ``range(n)``: a fresh seeded permutation per epoch, or in order.

    Call :meth:`set_epoch` before iterating. ``drop_single`` drops a trailing batch of one
    sample (batch norm cannot train on it).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_single: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.shuffle, self.drop_single = shuffle, drop_single
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose permutation the next iteration draws."""
        self.epoch = int(epoch)

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        gen = epoch_generator(self.seed, self.epoch, SHUFFLE_STREAM)
        return torch.randperm(self.n, generator=gen).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            if self.drop_single and len(batch) < 2:
                continue
            yield batch

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not (self.drop_single and rest < 2) else 0)
