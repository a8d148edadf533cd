import pytest
import torch

from e2e_mammo.data.augment import AugmentConfig, augment_batch


def _batch(n=6, h=12, w=16):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, h, w, generator=g) * 200 + 20


def test_identity_config_leaves_input_unchanged():
    x = _batch()
    out = augment_batch(x, torch.Generator().manual_seed(0), AugmentConfig.identity())
    assert torch.equal(out, x)
    assert out is not x


def test_flips_only_gives_one_of_four_flips():
    x = _batch(n=16)
    cfg = AugmentConfig(True, True, 0.0, 0.0, (1.0, 1.0), 0.0)
    out = augment_batch(x, torch.Generator().manual_seed(0), cfg)
    seen = set()
    for i in range(len(x)):
        flips = [x[i], x[i].flip(-1), x[i].flip(-2), x[i].flip(-1).flip(-2)]
        matches = [k for k, f in enumerate(flips) if torch.equal(out[i], f)]
        assert matches
        seen.add(matches[0])
    assert len(seen) > 1


def test_intensity_shift_within_range_and_clipped_to_image_range():
    x = _batch(n=32)
    cfg = AugmentConfig(False, False, 0.0, 0.0, (1.0, 1.0), 20.0)
    out = augment_batch(x, torch.Generator().manual_seed(0), cfg)
    diff = out - x
    assert diff.abs().max() <= 20.0 + 1e-4
    assert diff.abs().max() > 5.0
    assert (out.amin(dim=(1, 2, 3)) >= x.amin(dim=(1, 2, 3)) - 1e-4).all()
    assert (out.amax(dim=(1, 2, 3)) <= x.amax(dim=(1, 2, 3)) + 1e-4).all()


def test_deterministic_for_same_seed():
    x = _batch()
    a = augment_batch(x, torch.Generator().manual_seed(7))
    b = augment_batch(x, torch.Generator().manual_seed(7))
    c = augment_batch(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_geometric_transform_keeps_shape_and_value_range():
    x = _batch()
    out = augment_batch(x, torch.Generator().manual_seed(3), AugmentConfig())
    assert out.shape == x.shape
    assert out.min() >= x.min() - 20 - 1e-4 and out.max() <= x.max() + 20 + 1e-4
    assert not torch.equal(out, x)


def test_pure_zoom_in_magnifies_the_centre():
    # a centred bright square gets larger under zoom 0.5 (output->input scale < 1)
    x = torch.zeros(1, 1, 32, 32)
    x[..., 12:20, 12:20] = 255.0
    cfg = AugmentConfig(False, False, 0.0, 0.0, (0.5, 0.5), 0.0)
    out = augment_batch(x, torch.Generator().manual_seed(0), cfg)
    assert (out > 127).sum() > 2 * (x > 127).sum()


def test_from_dict_and_validation():
    cfg = AugmentConfig.from_dict({"rotation": 10, "zoom": [0.9, 1.1]})
    assert cfg.rotation == 10 and cfg.zoom == (0.9, 1.1) and cfg.shear == 0.2
    with pytest.raises(ValueError):
        AugmentConfig(zoom=(1.2, 0.8))
