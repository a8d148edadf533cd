"""Names and scales used across stages, defined once.

* :data:`SPLITS`: the split names written by the split stage and read by every later stage.
* :data:`PATCH_CLASSES`: the five patch classes of the paper (index 0 = background);
  :data:`MALIGNANT_PATCH_CLASSES` the indices of the malignant ones.
* :data:`IMAGE_CLASSES`: the two whole-image classes (index 1 = malignant).
* :data:`PNG_MAX`: the full scale of the 16-bit PNGs written by the converter.
* :data:`RESCALE_16BIT`: 16-bit values -> the 0-255 scale (the authors' rescale factor 0.003891).
"""

from __future__ import annotations

SPLITS: tuple[str, ...] = ("train", "val", "test")

PATCH_CLASSES: tuple[str, ...] = (
    "background",
    "malignant_mass",
    "benign_mass",
    "malignant_calcification",
    "benign_calcification",
)

#: The patch classes whose probabilities make a malignancy heatmap (mass and calcification).
MALIGNANT_PATCH_CLASSES: tuple[int, ...] = tuple(
    i for i, c in enumerate(PATCH_CLASSES) if c.startswith("malignant")
)

IMAGE_CLASSES: tuple[str, ...] = ("benign", "malignant")

PNG_MAX = 65535
RESCALE_16BIT = 255.0 / PNG_MAX
