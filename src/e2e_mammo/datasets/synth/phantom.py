"""Synthetic mammogram pictures: breast outline, 1/f^beta tissue, masses, calcifications.

Conventions (shared by the CBIS-DDSM and INbreast generators):

* Orientation: the chest wall is on the **left** edge of the image for a **left** breast (``L``)
  and on the **right** edge for a right breast (``R``); the nipple points towards the opposite
  edge. MLO views have the pectoral muscle as a bright triangle in the **upper** corner at the
  chest wall.
* MONOCHROME2: dense tissue is bright, air is near 0.
* Everything is built on a float "attenuation" map (air 0, fat ~0.4, dense tissue ~0.8,
  calcifications > 1.2); a detector profile then maps it to stored values:
  :func:`film_profile` (digitised film, CBIS-DDSM-like: S-curve, 16-bit, grain, banding,
  sometimes saturating) or :func:`ffdm_profile` (INbreast-like: linear-ish, 14-bit content
  with a max around 3000-4000, smooth noise).
* Lesion sizes are relative to the image height so that they survive area-downsizing to about
  256x192: masses 4-10 % of the height in diameter; calcification specks 0.5-1.0 % (malignant,
  i.e. about 5-10 px at 1024 rows, >= 1 px after 4-5x downsizing) and 1.0-1.8 % (benign coarse).
* Every random choice comes from the ``numpy.random.Generator`` passed in: same generator
  state, same picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "Breast",
    "DrawnLesion",
    "Finding",
    "Rendered",
    "breast_outline",
    "draw_calcifications",
    "draw_mass",
    "ffdm_profile",
    "film_profile",
    "render_mammogram",
    "tissue_texture",
]


@dataclass
class Breast:
    """The breast geometry of one image (chest wall already flipped for ``laterality``)."""

    rho: np.ndarray  # float32, normalised elliptical radius: < 1 inside the breast
    mask: np.ndarray  # bool, inside the breast (skin included)
    pectoral: np.ndarray  # bool, pectoral muscle (MLO only; all False for CC)
    laterality: str
    view: str


@dataclass
class Finding:
    """A lesion to draw: ``kind`` is ``"mass"`` or ``"calc"``."""

    kind: str
    malignant: bool


@dataclass
class DrawnLesion:
    """A lesion as drawn: its mask (bool, image-sized), centre (row, col) and size in pixels."""

    kind: str
    malignant: bool
    mask: np.ndarray
    center: tuple[float, float]
    radius: float
    specks: list[tuple[float, float]] = field(default_factory=list)  # calc centres (row, col)

    def bbox(self) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1) of the mask, end-exclusive."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


@dataclass
class Rendered:
    """A rendered mammogram: stored pixel values plus the lesions drawn on it."""

    image: np.ndarray  # uint16
    lesions: list[DrawnLesion]
    breast: Breast


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def tissue_texture(shape: tuple[int, int], beta: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with power spectrum ``1/f**beta`` (FFT-filtered white noise).

    Returns a float32 array of ``shape`` with zero mean and unit standard deviation.
    """
    rows, cols = shape
    noise = rng.standard_normal((rows, cols)).astype(np.float32)
    spec = np.fft.rfft2(noise)
    fy = np.fft.fftfreq(rows).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(cols).astype(np.float32)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    field_ = np.fft.irfft2(spec * amp, s=(rows, cols)).astype(np.float32)
    field_ -= field_.mean()
    std = float(field_.std())
    return field_ / (std if std > 0 else 1.0)


def breast_outline(
    shape: tuple[int, int], laterality: str, view: str, rng: np.random.Generator
) -> Breast:
    """Breast geometry: a half-ellipse against the chest wall with a nipple bump.

    CC: roughly symmetric about the middle row. MLO: the breast reaches the top edge near the
    chest wall (axillary tail), the nipple points slightly down, and a pectoral-muscle triangle
    occupies the upper corner at the chest wall.
    """
    rows, cols = shape
    view = view.upper()
    y = np.arange(rows, dtype=np.float32)[:, None]
    x = np.arange(cols, dtype=np.float32)[None, :]  # distance from the chest wall (left)
    ax = cols * rng.uniform(0.68, 0.9)
    if view == "CC":
        cy = rows * rng.uniform(0.46, 0.54)
        ay_top = rows * rng.uniform(0.38, 0.47)
        ay_bot = ay_top * rng.uniform(0.95, 1.05)
    else:
        cy = rows * rng.uniform(0.40, 0.48)
        ay_top = rows * rng.uniform(0.55, 0.7)
        ay_bot = rows * rng.uniform(0.42, 0.5)
    dy = y - cy
    ay = np.where(dy < 0, ay_top, ay_bot).astype(np.float32)
    u = x / ax
    v = dy / ay
    r = np.sqrt(u * u + v * v)
    phi = np.arctan2(v, u)  # 0 points at the nipple, +-pi/2 along the chest wall
    # low-frequency wobble of the outline and a nipple bump
    wobble = np.zeros_like(phi)
    for k in (2, 3, 4, 5):
        wobble += rng.uniform(-0.025, 0.025) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    phi0 = rng.uniform(-0.08, 0.08) + (0.12 if view != "CC" else 0.0)
    nipple = 0.035 * np.exp(-(((phi - phi0) / 0.07) ** 2))
    rho = (r / (1.0 + wobble + nipple)).astype(np.float32)
    mask = rho < 1.0
    pectoral = np.zeros(shape, dtype=bool)
    if view != "CC":
        ph = rows * rng.uniform(0.35, 0.6)  # height along the chest wall
        pw = cols * rng.uniform(0.22, 0.38)  # width along the top edge
        bow = rng.uniform(0.0, 0.12)
        t = x / pw + y / ph
        # slightly convex boundary
        curve = bow * np.sin(np.pi * np.clip(y / ph, 0, 1))
        pectoral = (t < 1.0 + curve) & mask
    if laterality.upper().startswith("R"):
        rho = rho[:, ::-1].copy()
        mask = mask[:, ::-1].copy()
        pectoral = pectoral[:, ::-1].copy()
    return Breast(rho=rho, mask=mask, pectoral=pectoral, laterality=laterality, view=view)


def _anatomy(breast: Breast, density: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Attenuation map of the normal breast and the std of its tissue (for lesion contrast)."""
    shape = breast.rho.shape
    rho = breast.rho
    tex = tissue_texture(shape, 3.0, rng)
    fine = tissue_texture(shape, 2.0, rng)
    density = int(min(max(density, 1), 4))
    thr = {1: 1.1, 2: 0.5, 3: -0.05, 4: -0.6}[density] + rng.uniform(-0.15, 0.15)
    gland = 1.0 / (1.0 + np.exp(-2.2 * (tex - thr)))
    weight = np.exp(-(((rho - 0.42) / 0.42) ** 2)) * (1.0 - _smoothstep(0.8, 0.98, rho))
    thick = np.sqrt(np.clip(1.0 - rho**3, 0.0, 1.0)) * 0.85 + 0.15
    fat = 0.40 + rng.uniform(-0.03, 0.03)
    att = thick * (fat + 0.40 * weight * gland + 0.035 * fine * (0.4 + weight))
    # skin line: slightly brighter rim
    att += 0.06 * (_smoothstep(0.965, 0.985, rho) - _smoothstep(0.99, 1.0, rho))
    if breast.pectoral.any():
        pec = cv2.GaussianBlur(breast.pectoral.astype(np.float32), (0, 0), max(shape) / 300)
        # muscle: a bit denser than fat, brightest at the chest wall, with fibre texture
        x = np.arange(shape[1], dtype=np.float32)[None, :] / shape[1]
        if breast.laterality.upper().startswith("R"):
            x = 1.0 - x
        muscle = 0.66 + 0.12 * np.exp(-x / 0.15) + 0.03 * fine + 0.02 * tex
        att = att * (1.0 - pec) + muscle * pec
    att = np.where(breast.mask, att, 0.0).astype(np.float32)
    inner = (rho < 0.8) & ~breast.pectoral
    std = float(att[inner].std()) if inner.any() else 0.05
    return att, max(std, 0.03)


def _local_patch(center: tuple[float, float], half: int, shape: tuple[int, int]):
    cy, cx = center
    r0 = max(int(cy) - half, 0)
    r1 = min(int(cy) + half + 1, shape[0])
    c0 = max(int(cx) - half, 0)
    c1 = min(int(cx) + half + 1, shape[1])
    yy = np.arange(r0, r1, dtype=np.float32)[:, None] - cy
    xx = np.arange(c0, c1, dtype=np.float32)[None, :] - cx
    return (slice(r0, r1), slice(c0, c1)), yy, xx


def _malignant_mass(
    yy: np.ndarray, xx: np.ndarray, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Profile and mask of a malignant mass body: irregular, star-shaped, ill-defined margin."""
    r, phi = np.sqrt(yy * yy + xx * xx), np.arctan2(yy, xx)
    bound = np.ones_like(phi)
    for k in range(2, 9):
        bound += rng.uniform(0.03, 0.09) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    n_spikes = int(rng.integers(5, 10))
    for a in rng.uniform(0, 2 * np.pi, n_spikes):
        d = np.angle(np.exp(1j * (phi - a)))
        bound += rng.uniform(0.25, 0.55) * np.exp(-((d / rng.uniform(0.1, 0.2)) ** 2))
    rho = r / (radius * 0.85 * bound)
    body = 1.0 - _smoothstep(0.75, 1.15, rho)  # ill-defined margin
    return body * (0.75 + 0.25 * np.clip(1.0 - rho, 0, 1)), rho <= 1.0


def _spicules(
    yy: np.ndarray, xx: np.ndarray, radius: float, image_rows: int, rng: np.random.Generator
) -> np.ndarray:
    """Thin radiating lines around a malignant mass (outside its outline, as in CBIS-DDSM)."""
    spic = np.zeros(yy.shape[:1] + xx.shape[1:], dtype=np.float32)
    lw = max(1, int(round(image_rows / 700)))
    n_sp = int(rng.integers(8, 17))
    oy, ox = yy[0, 0], xx[0, 0]
    for a in rng.uniform(0, 2 * np.pi, n_sp):
        length = radius * rng.uniform(1.4, 2.9)
        bend = rng.uniform(-0.25, 0.25)
        p0 = (-ox + 0.6 * radius * np.cos(a), -oy + 0.6 * radius * np.sin(a))
        mid = (-ox + 0.5 * length * np.cos(a + bend / 2), -oy + 0.5 * length * np.sin(a + bend / 2))
        p1 = (-ox + length * np.cos(a + bend), -oy + length * np.sin(a + bend))
        val = float(rng.uniform(0.35, 0.6))
        cv2.line(spic, _pt(p0), _pt(mid), val, lw + 1, cv2.LINE_8)
        cv2.line(spic, _pt(mid), _pt(p1), val * 0.7, lw, cv2.LINE_8)
    return cv2.GaussianBlur(spic, (0, 0), max(0.8, lw * 0.7))


def _benign_mass(
    yy: np.ndarray, xx: np.ndarray, radius: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Profile and mask of a benign mass: round or oval, circumscribed (sharp, smooth margin)."""
    phi = np.arctan2(yy, xx)
    aspect = rng.uniform(1.0, 1.5)
    ang = rng.uniform(0, np.pi)
    u = xx * np.cos(ang) + yy * np.sin(ang)
    v = -xx * np.sin(ang) + yy * np.cos(ang)
    a1, a2 = radius * np.sqrt(aspect), radius / np.sqrt(aspect)
    rho = np.sqrt((u / a1) ** 2 + (v / a2) ** 2)
    rho = rho / (1.0 + 0.03 * np.cos(3 * phi + rng.uniform(0, 2 * np.pi)))
    edge = max(1.0 / radius, 0.04)
    body = 1.0 - _smoothstep(1.0 - edge, 1.0 + edge, rho)  # sharp (circumscribed)
    return body * (0.8 + 0.2 * np.sqrt(np.clip(1.0 - rho * rho, 0, 1))), rho <= 1.0


def draw_mass(
    img: np.ndarray,
    center: tuple[float, float],
    radius: float,
    malignant: bool,
    rng: np.random.Generator,
    contrast: float = 0.12,
) -> np.ndarray:
    """Add a mass to the attenuation map ``img`` in place and return its mask (bool).

    Benign: round/oval, circumscribed (sharp, smooth margin). Malignant: irregular star-shaped
    body with ill-defined margins plus thin radiating spicules (not part of the mask, as in
    CBIS-DDSM outlines).
    """
    half = int(np.ceil(radius * (3.2 if malignant else 1.8))) + 3
    sl, yy, xx = _local_patch(center, half, img.shape)
    if malignant:
        prof, mask = _malignant_mass(yy, xx, radius, rng)
        prof = np.maximum(prof, _spicules(yy, xx, radius, img.shape[0], rng))
    else:
        prof, mask = _benign_mass(yy, xx, radius, rng)
    img[sl] += (contrast * prof).astype(np.float32)
    full = np.zeros(img.shape, dtype=bool)
    full[sl] = mask
    return full


def _pt(p: tuple[float, float]) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def _cluster_layout(
    h: int, malignant: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Speck offsets from the cluster centre, diameters and amplitudes (image of ``h`` rows)."""
    if not malignant:
        n = int(rng.integers(5, 11))
        spread = h * rng.uniform(0.03, 0.05)
        pts = rng.uniform(-1.0, 1.0, size=(n, 2)) * spread
        return pts, h * rng.uniform(0.010, 0.018, n), rng.uniform(0.6, 0.85, n)
    n = int(rng.integers(8, 16))
    spread = h * rng.uniform(0.015, 0.028)
    pts = rng.normal(0.0, spread * 0.55, size=(n, 2))
    if rng.random() < 0.5:  # linear/branching arrangement
        ang = rng.uniform(0, np.pi)
        t = rng.uniform(-1.6, 1.6, n) * spread
        pts = np.stack([t * np.sin(ang), t * np.cos(ang)], 1) + rng.normal(0, spread * 0.2, (n, 2))
    return pts, h * rng.uniform(0.005, 0.010, n), rng.uniform(0.45, 0.9, n)


def _speck(
    yy: np.ndarray, xx: np.ndarray, rad: float, malignant: bool, rng: np.random.Generator
) -> np.ndarray:
    """One speck's profile: malignant elongated and irregular, benign round (some lucent)."""
    if malignant:
        elong = rng.uniform(1.0, 2.6)
        ang = rng.uniform(0, np.pi)
        u = xx * np.cos(ang) + yy * np.sin(ang)
        v = -xx * np.sin(ang) + yy * np.cos(ang)
        rr = np.sqrt((u / (rad * np.sqrt(elong))) ** 2 + (v * np.sqrt(elong) / rad) ** 2)
        phi = np.arctan2(v, u)
        rr = rr / (1.0 + 0.25 * np.cos(3 * phi + rng.uniform(0, 6.3)))
        return 1.0 - _smoothstep(0.7, 1.15, rr)
    rr = np.sqrt(yy * yy + xx * xx) / rad
    prof = 1.0 - _smoothstep(0.85, 1.1, rr)
    if rng.random() < 0.35:  # lucent centre
        prof = prof * (1.0 - 0.45 * (1.0 - _smoothstep(0.2, 0.55, rr)))
    return prof


def _cluster_mask(
    shape: tuple[int, ...], centres: list[tuple[float, float]], margin: int
) -> np.ndarray:
    """The cluster region: the specks' convex hull dilated by ``margin`` pixels."""
    mask = np.zeros(shape, dtype=np.uint8)
    if centres:
        hull = cv2.convexHull(np.array([[x, y] for y, x in centres], dtype=np.float32))
        cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        mask = cv2.dilate(mask, k)
    return mask.astype(bool)


def draw_calcifications(
    img: np.ndarray,
    center: tuple[float, float],
    malignant: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Add a calcification cluster to ``img`` in place; return (region mask, speck centres).

    Malignant: fine pleomorphic — 8-15 small specks of varied size/shape, some elongated,
    tightly clustered. Benign: coarse — 5-10 larger round specks (some with a lucent centre),
    scattered more widely. The mask is the cluster region (convex hull of the specks plus a
    margin), as CBIS-DDSM outlines calcification ROIs.
    """
    h = img.shape[0]
    cy, cx = center
    pts, diam, amp = _cluster_layout(h, malignant, rng)
    centres: list[tuple[float, float]] = []
    for (py, px), d, a in zip(pts, diam, amp, strict=True):
        sy, sx = cy + py, cx + px
        if not (0 <= sy < img.shape[0] and 0 <= sx < img.shape[1]):
            continue
        rad = max(d / 2.0, 1.2)
        sl, yy, xx = _local_patch((sy, sx), int(np.ceil(rad * 2.5)) + 2, img.shape)
        img[sl] += (a * _speck(yy, xx, rad, malignant, rng)).astype(np.float32)
        centres.append((float(sy), float(sx)))
    margin = int(np.ceil(float(diam.max()) / 2 + h * 0.008))
    return _cluster_mask(img.shape, centres, margin), centres


def film_profile(att: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digitised-film look (CBIS-DDSM): S-shaped characteristic curve to 16 bits.

    Background is a fog level of a few thousand, not 0; dense tissue and calcifications may
    saturate at 65535; multiplicative film grain and faint row banding from the scanner.
    """
    rows, cols = att.shape
    e = att.copy()
    grain = rng.standard_normal(att.shape).astype(np.float32)
    grain = 0.6 * grain + 0.4 * cv2.GaussianBlur(grain, (0, 0), 1.0) * 2.0
    e += 0.012 * grain * (0.3 + att)
    band = np.cumsum(rng.standard_normal(rows).astype(np.float32))
    band = cv2.GaussianBlur(band[:, None], (0, 0), 3.0)[:, 0]
    band = (band - band.mean()) / (band.std() + 1e-6)
    e += (0.006 * band)[:, None]
    e0 = rng.uniform(0.5, 0.6)
    gain = rng.uniform(2.6, 3.4)
    lo = rng.uniform(0.0, 0.02)
    hi = rng.uniform(0.98, 1.12)
    s = (np.tanh((e - e0) * gain) + 1.0) / 2.0
    s0 = (np.tanh(-e0 * gain) + 1.0) / 2.0
    s = (s - s0) / (1.0 - s0)  # air -> ~0 before the fog offset
    out = 65535.0 * (lo + 0.03 + (hi - lo) * s)
    return np.clip(out, 0, 65535).astype(np.uint16)


def ffdm_profile(att: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Full-field digital look (INbreast): linear-ish, 14-bit content, max about 3000-4000.

    Linear in the attenuation up to the brightest tissue (its 99.5th percentile maps to about
    2700-3300), with a soft knee above so calcifications end near 3300-4100. Air is near 0
    with a little noise; quantum-like noise grows with the signal and is smooth.
    """
    inside = att > 0
    q = float(np.percentile(att[inside], 99.5)) if inside.any() else 1.0
    x = att / max(q, 1e-3)
    knee = 0.9
    y = np.where(x <= knee, x, knee + 0.35 * (1.0 - np.exp(-(x - knee) / 0.35)))
    v = rng.uniform(2700.0, 3300.0) * y
    noise = rng.standard_normal(att.shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.8) * 1.6
    v = v + noise * (2.0 + 0.5 * np.sqrt(np.maximum(v, 0.0))) + 6.0
    return np.clip(np.round(v), 0, 16383).astype(np.uint16)


def _pick_center(
    breast: Breast, rng: np.random.Generator, avoid: list[tuple[float, float]], min_dist: float
) -> tuple[float, float]:
    ok = (breast.rho < 0.72) & (breast.rho > 0.12) & ~breast.pectoral
    ys, xs = np.nonzero(ok[::4, ::4])
    ys, xs = ys * 4, xs * 4
    if len(ys) == 0:
        h, w = breast.rho.shape
        return float(h / 2), float(w / 2)
    best = (float(ys[0]), float(xs[0]))
    for _ in range(30):
        i = int(rng.integers(len(ys)))
        c = (float(ys[i]), float(xs[i]))
        if all(np.hypot(c[0] - a[0], c[1] - a[1]) >= min_dist for a in avoid):
            return c
        best = c
    return best


def render_mammogram(
    shape: tuple[int, int],
    laterality: str,
    view: str,
    density: int,
    findings: list[Finding],
    rng: np.random.Generator,
    profile: str = "film",
) -> Rendered:
    """Render one mammogram with the requested lesions.

    Args:
        shape: (rows, cols) of the image.
        laterality: ``L``/``R`` (or ``LEFT``/``RIGHT``); decides the chest-wall side.
        view: ``CC`` or ``MLO``.
        density: breast density / ACR 1-4 (more fibroglandular tissue when higher).
        findings: lesions to draw, in order; the returned lesions have the same order.
        rng: the random generator (the only source of randomness).
        profile: ``"film"`` (CBIS-DDSM, 16-bit) or ``"ffdm"`` (INbreast, 14-bit content).
    """
    breast = breast_outline(shape, laterality, view, rng)
    att, std = _anatomy(breast, density, rng)
    h = shape[0]
    lesions: list[DrawnLesion] = []
    placed: list[tuple[float, float]] = []
    for f in findings:
        if f.kind == "mass":
            radius = h * rng.uniform(0.025, 0.05)
            c = _pick_center(breast, rng, placed, 3.5 * radius)
            contrast = std * rng.uniform(1.3, 2.1)
            mask = draw_mass(att, c, radius, f.malignant, rng, contrast=contrast)
            lesions.append(DrawnLesion("mass", f.malignant, mask, c, radius))
        elif f.kind in ("calc", "calcification"):
            c = _pick_center(breast, rng, placed, h * 0.12)
            mask, specks = draw_calcifications(att, c, f.malignant, rng)
            radius = float(np.sqrt(mask.sum() / np.pi))
            lesions.append(DrawnLesion("calc", f.malignant, mask, c, radius, specks))
        else:
            raise ValueError(f"unknown finding kind {f.kind!r}")
        placed.append(c)
    att = np.where(breast.mask, att, 0.0).astype(np.float32)
    for les in lesions:
        les.mask &= breast.mask
    if profile == "film":
        img = film_profile(att, rng)
    elif profile == "ffdm":
        img = ffdm_profile(att, rng)
    else:
        raise ValueError(f"unknown profile {profile!r}")
    return Rendered(image=img, lesions=lesions, breast=breast)
