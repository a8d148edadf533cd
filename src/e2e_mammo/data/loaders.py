"""Loaders over the datasets of :mod:`.patch_arrays` and :mod:`.whole_images`.

Order comes from :class:`~.samplers.EpochBatchSampler` (seeded per epoch), so results do not
depend on ``workers``. Datasets with ``__getitems__`` (patch arrays) deliver whole batches;
the others are collated by torch's default collate. Workers decode images in parallel with
training (started with ``forkserver``, since OpenCV's thread pool does not survive a fork);
augmentation happens later, on whole batches on the training device.
"""

from __future__ import annotations

import signal

from torch.utils.data import DataLoader, Dataset

from e2e_mammo.data.samplers import EpochBatchSampler
from e2e_mammo.start_method import start_method


def _passthrough(batch):
    return batch


def _worker_init(worker_id: int) -> None:  # noqa: ARG001 - torch's signature
    """Workers leave SIGTERM to the main process (which ends the job's MLflow run)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    workers: int = 0,
    drop_single: bool = False,
) -> DataLoader:
    """A loader of ``(x, y, index)`` batches; call ``loader.batch_sampler.set_epoch(e)`` per
    epoch when ``shuffle``."""
    sampler = EpochBatchSampler(len(dataset), batch_size, seed, shuffle, drop_single)
    batched = hasattr(dataset, "__getitems__")
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=_passthrough if batched else None,
        persistent_workers=workers > 0,
        pin_memory=False,
        worker_init_fn=_worker_init if workers > 0 else None,
        # not fork: a forked child of a process that used OpenCV's thread pool can hang
        multiprocessing_context=start_method() if workers > 0 else None,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Select the epoch of a loader made by :func:`make_loader`."""
    loader.batch_sampler.set_epoch(epoch)
