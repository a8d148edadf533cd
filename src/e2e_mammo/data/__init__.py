"""torch datasets and seeded loaders: memory-mapped patch arrays and whole 16-bit PNG images."""

from e2e_mammo.data.loaders import make_loader, set_epoch
from e2e_mammo.data.patch_arrays import PatchArrayDataset, load_patch_split
from e2e_mammo.data.samplers import EpochBatchSampler, epoch_generator, epoch_seed
from e2e_mammo.data.whole_images import WholeImageDataset, read_png16

__all__ = [
    "EpochBatchSampler",
    "PatchArrayDataset",
    "WholeImageDataset",
    "epoch_generator",
    "epoch_seed",
    "load_patch_split",
    "make_loader",
    "read_png16",
    "set_epoch",
]
