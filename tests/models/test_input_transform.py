import pytest
import torch

from e2e_mammo.models.input_transform import IMAGENET_STD, InputNormalization
from e2e_mammo.models.patch_classifier import build_patch_classifier


def first_conv_input(model, x):
    seen = {}
    conv = model.backbone.stem.conv1

    def hook(module, inputs, output):
        seen["x"] = inputs[0]

    handle = conv.register_forward_hook(hook)
    with torch.no_grad():
        model.eval()(x)
    handle.remove()
    return seen["x"]


def test_first_convolution_sees_torchvision_scale():
    """ImageNet weights of torchvision expect (x/255 - mean)/std: not the 0-255 scale."""
    model = build_patch_classifier("resnet50", mean=52.18)
    x = torch.full((1, 1, 32, 32), 200.0)  # grey value on the 0-255 scale
    got = first_conv_input(model, x)
    expected = torch.tensor([(200.0 - 52.18) / 255.0 / s for s in IMAGENET_STD])
    assert got.shape == (1, 3, 32, 32)
    assert torch.allclose(got[0, :, 0, 0], expected, atol=1e-6)
    assert got.abs().max() < 3.0


def test_caffe_convention_keeps_the_0_255_scale():
    norm = InputNormalization(mean=50.0, convention="caffe")
    out = norm(torch.full((1, 1, 2, 2), 150.0))
    assert torch.allclose(out, torch.full((1, 3, 2, 2), 100.0))


def test_transform_travels_in_the_state_dict():
    a = build_patch_classifier("resnet50", mean=44.33)
    b = build_patch_classifier("resnet50")
    b.load_state_dict(a.state_dict())
    assert float(b.input_norm.mean) == pytest.approx(44.33)


def test_grey_input_required():
    with pytest.raises(ValueError, match="grey"):
        InputNormalization()(torch.zeros(1, 3, 4, 4))


def test_unknown_convention_refused():
    with pytest.raises(ValueError, match="convention"):
        InputNormalization(convention="keras")
