"""Sizes the plan derives from the config: the patch side scaled with the image height."""

from __future__ import annotations

import math


def scaled_patch_size(patch_size: int, image_height: int, reference_height: int = 1152) -> int:
    """The patch side scaled with the image height (224 px at 1152 rows -> 50 px at 256 rows)."""
    if patch_size <= 0 or image_height <= 0 or reference_height <= 0:
        raise ValueError("patch_size, image_height and reference_height must be positive")
    return max(1, math.floor(patch_size * image_height / reference_height + 0.5))
