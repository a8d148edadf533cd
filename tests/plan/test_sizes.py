import pytest

from e2e_mammo.plan.sizes import scaled_patch_size


def test_the_patch_side_scales_with_the_image_height() -> None:
    assert scaled_patch_size(224, 1152) == 224
    assert scaled_patch_size(224, 256) == 50
    assert scaled_patch_size(224, 576) == 112


def test_a_size_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        scaled_patch_size(224, 0)
