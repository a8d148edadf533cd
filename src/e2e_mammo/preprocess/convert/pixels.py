"""Conversion pixels: a mammogram and its ROI masks resized to the network's input size.

Pure array logic, no files (the stage that reads DICOMs and writes PNGs is
:mod:`e2e_mammo.preprocess.convert.stage`; see there for the layout of the conversion modules).

* :func:`resize_image`: resized to ``size`` = (height, width) with ``cv2.INTER_AREA``, the
  aspect ratio forced (Shen et al. 2019 resize every image to 1152x896), then mapped to 16 bits.
  Intensity ``"minmax"`` maps the image's [min, max] after the DICOM LUTs linearly onto
  [0, :data:`~e2e_mammo.constants.PNG_MAX`]; ``"stored"`` keeps the values (clipped to
  0..PNG_MAX, rounded). A constant image has nothing to normalise (and no content): an error in
  both modes, and so is an image with a NaN or infinite pixel anywhere (a float-pixel DICOM's
  NaN block and a single NaN alike).
* :func:`resize_mask`: 8-bit 0/255 at the same ``size`` with ``cv2.INTER_NEAREST``, whatever
  the mask's own shape. If nearest-neighbour resizing loses all the foreground (a lesion smaller
  than the sampling step), it is resized again with ``INTER_AREA`` on a float copy and
  thresholded at ``> 0``, so a tiny lesion survives as at least one pixel (``"area_fallback"``).
"""

from __future__ import annotations

import cv2
import numpy as np

from e2e_mammo.constants import PNG_MAX

#: The intensity mappings of :func:`resize_image`.
INTENSITY_MODES = ("minmax", "stored")


def resize_image(
    image: np.ndarray, size: tuple[int, int], intensity: str
) -> tuple[np.ndarray, float, float]:
    """Resize ``image`` (INTER_AREA) to ``size`` and map it to uint16.

    Args:
        image: a 2-D greyscale image after the DICOM LUTs (float32), or the stored unsigned
            integers when no LUT changes them.
        size: (height, width) of the result.
        intensity: ``"minmax"`` or ``"stored"`` (see the module docstring).

    Returns:
        ``(png, lo, hi)``: the uint16 array and the full-resolution min and max.

    Raises:
        ValueError: non-finite values, or a constant image.
    """
    if image.dtype.kind == "f":
        # cv2.minMaxLoc skips NaN (or not, by CPU path), so NaN/inf anywhere is checked itself
        bad = image.size - int(np.count_nonzero(np.isfinite(image)))
        if bad:
            raise ValueError(f"image has {bad} non-finite pixel value(s) (NaN or inf)")
    lo, hi, _, _ = cv2.minMaxLoc(image)
    if hi <= lo:
        raise ValueError(f"constant image (every pixel is {lo:g}); nothing to normalise")
    height, width = size
    if image.dtype != np.float32:
        # stored integers (no LUT applied): stretch at full resolution in one uint16 pass, then
        # average, which halves the memory traffic of the float path (same result within 1/65535)
        if intensity == "minmax":
            image = cv2.normalize(image, None, 0, PNG_MAX, cv2.NORM_MINMAX, dtype=cv2.CV_16U)
        small = cv2.resize(
            image.astype(np.uint16, copy=False), (width, height), interpolation=cv2.INTER_AREA
        )
        return small, float(lo), float(hi)
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    if intensity == "minmax":
        # INTER_AREA averages, so values stay in [lo, hi]; the clip only guards rounding.
        small = (small - np.float32(lo)) * np.float32(PNG_MAX / (hi - lo))
    out = np.rint(np.clip(small, 0, PNG_MAX, out=small), out=small).astype(np.uint16)
    return out, float(lo), float(hi)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Resize a boolean ROI mask to an 8-bit 0/255 mask of ``size`` = (height, width).

    Returns the mask and the method used: ``"nearest"``, or ``"area_fallback"`` when nearest
    sampling lost every foreground pixel.
    """
    height, width = size
    m8 = mask.astype(np.uint8) * np.uint8(255)
    out = cv2.resize(m8, (width, height), interpolation=cv2.INTER_NEAREST)
    if out.any():
        return out, "nearest"
    area = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return np.where(area > 0, np.uint8(255), np.uint8(0)), "area_fallback"


__all__ = ["INTENSITY_MODES", "resize_image", "resize_mask"]
