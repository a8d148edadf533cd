import pytest
import torch

from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.data.augment import AugmentConfig
from e2e_mammo.data.batches import prepare_batch


def test_prepare_batch_scales_16bit_to_the_0_255_scale():
    x = torch.tensor([0, 65535], dtype=torch.uint16).view(2, 1, 1, 1)
    out = prepare_batch(x, device="cpu")
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([0.0, 255.0]))
    assert RESCALE_16BIT == pytest.approx(0.003891, abs=1e-6)


def test_augmentation_needs_a_generator():
    x = torch.zeros((2, 1, 4, 4), dtype=torch.uint16)
    with pytest.raises(ValueError, match="generator"):
        prepare_batch(x, device="cpu", augment_cfg=AugmentConfig())


def test_the_same_generator_seed_gives_the_same_augmented_batch():
    x = torch.randint(0, 65535, (2, 1, 8, 8), dtype=torch.int32).to(torch.uint16)
    config = AugmentConfig(rotation=20.0, intensity_shift=10.0)
    a, b = (
        prepare_batch(
            x, device="cpu", augment_cfg=config, generator=torch.Generator().manual_seed(3)
        )
        for _ in range(2)
    )
    assert torch.equal(a, b) and not torch.equal(a, prepare_batch(x, device="cpu"))


def test_channels_last_batch_on_cpu_when_asked():
    x = torch.zeros(2, 1, 8, 6, dtype=torch.int32)
    out = prepare_batch(x, device="cpu", channels_last=True)
    assert out.is_contiguous(memory_format=torch.channels_last)
