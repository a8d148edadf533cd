"""On-the-fly batch augmentation after the authors' Keras ``ImageDataGenerator`` settings.

The paper: horizontal and vertical flips, rotation in [-25, 25] degrees, shear in [-0.2, 0.2]
radians, zoom in [0.8, 1.2], channel shift in [-20, 20] pixel values, applied to the 0-255 scaled
image before the mean is subtracted. Here the whole batch is transformed at once, on the batch's
device: one per-sample affine matrix (rotation x shear x zoom, about the image centre, in pixel
units so non-square images are not distorted) through a single ``F.affine_grid`` +
``F.grid_sample`` call with ``padding_mode="border"`` (Keras ``fill_mode="nearest"``).

Decisions (documented deviations / readings):

* Order as in Keras 2.0 ``random_transform``: affine transform, then channel shift, then flips.
  Flips are exact tensor flips (no resampling).
* Zoom: drawn independently for the two axes, as Keras does (``zx, zy ~ U(zoom_range)``).
* Interpolation: bilinear by default (Keras 2.0 used nearest, ``order=0``); set
  ``interpolation="nearest"`` to mimic it exactly.
* Channel shift: one uniform offset per sample added to all pixels, then clipped to that
  sample's own [min, max] (as Keras ``random_channel_shift`` does, with min/max taken after the
  geometric transform), so the shift never creates values outside the image's range.
* The geometric step is skipped when rotation, shear and zoom ranges are all zero (exact
  identity), and the random draws are made on the generator's device (CPU generator ->
  identical draws for CPU and CUDA batches).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Random transform ranges (defaults: the paper's). ``rotation`` in degrees, ``shear`` in
    radians, ``zoom`` a (low, high) scale range, ``intensity_shift`` in 0-255 pixel values."""

    hflip: bool = True
    vflip: bool = True
    rotation: float = 25.0
    shear: float = 0.2
    zoom: tuple[float, float] = (0.8, 1.2)
    intensity_shift: float = 20.0
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        lo, hi = self.zoom
        if not 0 < lo <= hi:
            raise ValueError(f"zoom range must satisfy 0 < low <= high, got {self.zoom}")
        if self.rotation < 0 or self.shear < 0 or self.intensity_shift < 0:
            raise ValueError("rotation, shear and intensity_shift must be >= 0")
        if self.interpolation not in ("bilinear", "nearest"):
            raise ValueError("interpolation must be 'bilinear' or 'nearest'")

    @classmethod
    def identity(cls) -> AugmentConfig:
        """A config that changes nothing."""
        return cls(False, False, 0.0, 0.0, (1.0, 1.0), 0.0)

    @classmethod
    def from_dict(cls, cfg: dict | None) -> AugmentConfig:
        """From a params.yaml mapping (missing keys take the paper's defaults); ``None`` ->
        :meth:`identity`."""
        if cfg is None:
            return cls.identity()
        cfg = dict(cfg)
        if "zoom" in cfg:
            cfg["zoom"] = tuple(float(z) for z in cfg["zoom"])
        return cls(**cfg)

    @property
    def has_geometry(self) -> bool:
        return self.rotation > 0 or self.shear > 0 or self.zoom != (1.0, 1.0)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
    return low + (high - low) * u


def _affine_theta(
    n: int, h: int, w: int, cfg: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """(n, 2, 3) float64 matrices for ``F.affine_grid`` mapping output to input coordinates."""
    rot = torch.deg2rad(_uniform(n, -cfg.rotation, cfg.rotation, generator))
    shear = _uniform(n, -cfg.shear, cfg.shear, generator)
    zx = _uniform(n, cfg.zoom[0], cfg.zoom[1], generator)
    zy = _uniform(n, cfg.zoom[0], cfg.zoom[1], generator)
    c, s = torch.cos(rot), torch.sin(rot)
    zeros, ones = torch.zeros_like(rot), torch.ones_like(rot)
    rotation = torch.stack([c, -s, s, c], 1).view(n, 2, 2)
    shearing = torch.stack([ones, -torch.sin(shear), zeros, torch.cos(shear)], 1).view(n, 2, 2)
    zooming = torch.stack([zx, zeros, zeros, zy], 1).view(n, 2, 2)
    a = rotation @ shearing @ zooming  # Keras: rotation . shear . zoom, in pixel units (x, y)
    # to affine_grid's normalised coordinates (align_corners=False): D^-1 A D, D = diag(w/2, h/2)
    scale = torch.tensor([w / 2.0, h / 2.0], dtype=a.dtype, device=a.device)
    a = a * scale.view(1, 1, 2) / scale.view(1, 2, 1)
    return torch.cat([a, torch.zeros(n, 2, 1, dtype=a.dtype, device=a.device)], 2)


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, cfg: AugmentConfig | None = None
) -> torch.Tensor:
    """Randomly transform a float batch (N,C,H,W) in the 0-255 scale; returns a new tensor.

    Deterministic for the generator's state. ``cfg`` defaults to the paper's ranges.
    """
    cfg = AugmentConfig() if cfg is None else cfg
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"expected a float (N,C,H,W) batch, got {tuple(x.shape)} {x.dtype}")
    n, _, h, w = x.shape
    out = x
    if cfg.has_geometry:
        theta = _affine_theta(n, h, w, cfg, generator).to(device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(
            x, grid, mode=cfg.interpolation, padding_mode="border", align_corners=False
        )
    if cfg.intensity_shift > 0:
        shift = _uniform(n, -cfg.intensity_shift, cfg.intensity_shift, generator)
        shift = shift.to(device=x.device, dtype=x.dtype).view(n, 1, 1, 1)
        lo = out.amin(dim=(1, 2, 3), keepdim=True)
        hi = out.amax(dim=(1, 2, 3), keepdim=True)
        out = torch.minimum(torch.maximum(out + shift, lo), hi)
    for flag, dim in ((cfg.hflip, 3), (cfg.vflip, 2)):
        if flag:
            mask = torch.rand(n, generator=generator, device=generator.device) < 0.5
            mask = mask.to(x.device).view(n, 1, 1, 1)
            out = torch.where(mask, out.flip(dim), out)
    return out if out is not x else x.clone()
