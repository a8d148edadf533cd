"""Patch sets S1 and S10 (Shen et al. 2019, section 3.1.1): ROI and background patches.

The paper cuts 224x224 patches from 1152x896 images. ``S1`` holds, per ROI, one patch centred
on the ROI and one background patch from the same image; ``S10`` holds, per ROI, 10 patches
sampled around the ROI "with a minimum overlapping ratio of 0.9" and the same number of
background patches from the same image.

A package rather than one module: the stage's concerns change for different reasons (the
paper's sampling rules, the tables, the file I/O) and each reads best on its own:

* :mod:`.sampling` -- where patches go, as pure array logic: the overlap rule and its
  relaxation, the centred S1 box, breast segmentation, ROI and background sampling;
* :mod:`.plan` -- pass 1 for one image: classes, usable ROIs, planned boxes, exclusions;
* :mod:`.cutting` -- pass 2: planned boxes -> one memory-mapped ``.npy`` per split;
* :mod:`.stage` -- :func:`extract_patch_set`: input tables, both passes, the output tables.

The names below are the package's public entry points.
"""

from e2e_mammo.preprocess.patches.plan import CLASS_NAMES, SamplingOptions, class_of
from e2e_mammo.preprocess.patches.sampling import (
    box_sums,
    breast_mask,
    overlap_ratio_map,
)
from e2e_mammo.preprocess.patches.stage import (
    COUNT_COLUMNS,
    INDEX_COLUMNS,
    PatchSetResult,
    extract_patch_set,
)

__all__ = [
    "CLASS_NAMES",
    "COUNT_COLUMNS",
    "INDEX_COLUMNS",
    "PatchSetResult",
    "SamplingOptions",
    "box_sums",
    "breast_mask",
    "class_of",
    "extract_patch_set",
    "overlap_ratio_map",
]
