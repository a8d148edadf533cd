"""The synthetic mammogram pictures: texture statistics, lesions, masks, intensity profiles."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from e2e_mammo.datasets.synth.phantom import (
    Finding,
    breast_outline,
    draw_mass,
    render_mammogram,
    tissue_texture,
)


def _spectrum_slope(field: np.ndarray) -> float:
    power = np.abs(np.fft.fft2(field)) ** 2
    fy = np.fft.fftfreq(field.shape[0])[:, None]
    fx = np.fft.fftfreq(field.shape[1])[None, :]
    f = np.sqrt(fy**2 + fx**2)
    bins = np.logspace(np.log10(0.02), np.log10(0.3), 15)
    idx = np.digitize(f.ravel(), bins)
    xs, ys = [], []
    for i in range(1, len(bins)):
        sel = idx == i
        if sel.any():
            xs.append(np.log(f.ravel()[sel].mean()))
            ys.append(np.log(power.ravel()[sel].mean()))
    return float(np.polyfit(xs, ys, 1)[0])


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_texture_power_spectrum_slope_is_minus_beta(beta: float) -> None:
    field = tissue_texture((256, 256), beta, np.random.default_rng(1))
    assert field.dtype == np.float32
    assert abs(float(field.mean())) < 1e-3 and abs(float(field.std()) - 1.0) < 1e-3
    assert _spectrum_slope(field) == pytest.approx(-beta, abs=0.5)


def test_render_is_deterministic_for_a_generator_seed() -> None:
    def make() -> np.ndarray:
        finds = [Finding("mass", True), Finding("calc", False)]
        return render_mammogram((256, 160), "R", "MLO", 3, finds, np.random.default_rng(7)).image

    a, b = make(), make()
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(a, b)
    other = render_mammogram((256, 160), "R", "MLO", 3, [], np.random.default_rng(8)).image
    assert not np.array_equal(a, other)


def test_chest_wall_side_follows_laterality_and_mlo_has_pectoral() -> None:
    left = breast_outline((256, 160), "L", "CC", np.random.default_rng(0))
    right = breast_outline((256, 160), "R", "MLO", np.random.default_rng(0))
    assert left.mask[:, :10].mean() > left.mask[:, -10:].mean()
    assert right.mask[:, -10:].mean() > right.mask[:, :10].mean()
    assert not left.pectoral.any()
    # pectoral muscle in the upper corner at the chest wall (right edge for an R breast)
    assert right.pectoral[:20, -20:].mean() > 0.5
    assert not right.pectoral[-40:, :].any()


def test_mass_mask_covers_the_drawn_mass() -> None:
    for malignant in (True, False):
        img = np.zeros((300, 300), dtype=np.float32)
        mask = draw_mass(img, (150.0, 150.0), 25.0, malignant, np.random.default_rng(3), 0.2)
        assert mask.any()
        # the mass body (above 65 % of its contrast; spicules are fainter and lie outside the
        # outline, as in CBIS-DDSM) is inside the mask or its 3-px rim
        rim = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        core = img > 0.65 * 0.2
        assert core[~rim].sum() <= 0.02 * core.sum()
        # and the mask is mostly drawn-on
        assert (img[mask] > 0.05).mean() > 0.95


@pytest.mark.parametrize("kind", ["mass", "calc"])
def test_lesion_is_brighter_than_its_neighbourhood(kind: str) -> None:
    wins = 0
    for seed in range(10):
        malignant = bool(seed % 2)
        r = render_mammogram(
            (512, 320), "L", "CC", seed % 4 + 1, [Finding(kind, malignant)],
            np.random.default_rng(seed),
        )  # fmt: skip
        m = r.lesions[0].mask.astype(np.uint8)
        ring = cv2.dilate(m, np.ones((21, 21), np.uint8)) > 0
        ring &= (m == 0) & r.breast.mask
        img = r.image.astype(np.float64)
        wins += img[m > 0].mean() > img[ring].mean()
    assert wins >= 9


def test_malignant_masses_are_less_solid_than_benign() -> None:
    def solidity(malignant: bool, seed: int) -> float:
        r = render_mammogram(
            (512, 320), "L", "CC", 2, [Finding("mass", malignant)], np.random.default_rng(seed)
        )
        m = r.lesions[0].mask.astype(np.uint8)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        c = max(contours, key=cv2.contourArea)
        return cv2.contourArea(c) / cv2.contourArea(cv2.convexHull(c))

    mal = [solidity(True, s) for s in range(8)]
    ben = [solidity(False, s) for s in range(8)]
    assert max(mal) < min(ben)
    assert np.mean(mal) < 0.88 and np.mean(ben) > 0.95


def test_mass_size_is_4_to_10_percent_of_height() -> None:
    for seed in range(6):
        r = render_mammogram(
            (1000, 640), "L", "MLO", 2, [Finding("mass", False)], np.random.default_rng(seed)
        )
        r0, r1, c0, c1 = r.lesions[0].bbox()
        diameter = np.sqrt((r1 - r0) * (c1 - c0))
        assert 0.035 * 1000 <= diameter <= 0.12 * 1000


@pytest.mark.parametrize("malignant", [True, False])
def test_calcifications_survive_downsizing_to_demo_scale(malignant: bool) -> None:
    shape = (1024, 640)
    r = render_mammogram(
        shape, "R", "CC", 3, [Finding("calc", malignant)], np.random.default_rng(11)
    )
    les = r.lesions[0]
    assert 5 <= len(les.specks) <= 15
    small = cv2.resize(r.image, (192, 256), interpolation=cv2.INTER_AREA).astype(np.float64)
    breast = cv2.resize(r.breast.mask.astype(np.uint8), (192, 256), cv2.INTER_NEAREST) > 0
    visible = 0
    for sy, sx in les.specks:
        y, x = int(sy * 256 / shape[0]), int(sx * 192 / shape[1])
        peak = small[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].max()
        visible += peak > np.percentile(small[breast], 95)
    assert visible >= 0.8 * len(les.specks)


def test_film_and_ffdm_intensity_profiles_differ() -> None:
    finds = [Finding("calc", True)]
    film = render_mammogram((512, 320), "L", "CC", 2, finds, np.random.default_rng(4), "film")
    ffdm = render_mammogram((512, 400), "L", "CC", 2, finds, np.random.default_rng(4), "ffdm")
    f, d = film.image, ffdm.image
    # film: wide 16-bit range, background fogged (not exactly 0)
    assert f.max() > 50000 and np.percentile(f[film.breast.mask], 50) > 10000
    assert 500 < np.median(f[~film.breast.mask]) < 6000
    # ffdm: 14-bit content with a max around 3000-4000, air near 0
    assert 2500 <= d.max() <= 4500 and d.max() < 2**14
    assert np.median(d[~ffdm.breast.mask]) < 50


def test_full_size_image_renders_fast() -> None:
    render_mammogram((256, 160), "L", "CC", 2, [], np.random.default_rng(0))  # warm-up
    t = time.perf_counter()
    finds = [Finding("mass", True), Finding("calc", True)]
    render_mammogram((1024, 640), "L", "MLO", 3, finds, np.random.default_rng(0))
    assert time.perf_counter() - t < 1.5  # typically ~0.1 s
