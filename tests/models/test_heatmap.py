import pytest
import torch
from torch import nn

from e2e_mammo.models.heatmap import (
    PatchHeatmap,
    heatmap_size,
    heatmap_window,
    patch_heatmap,
)
from e2e_mammo.models.patch_classifier import build_patch_classifier

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def patch_model():
    torch.manual_seed(0)
    model = build_patch_classifier("resnet50", mean=50.0).eval()
    with torch.no_grad():  # a head with some spread, so the softmax is not uniform
        model.head.weight.normal_(0, 0.5)
        model.head.bias.normal_(0, 0.5)
    return model


def test_window_is_the_patch_in_feature_cells():
    assert heatmap_window(224) == 7
    assert heatmap_window(256) == 8
    assert heatmap_window(64) == 2
    assert heatmap_window(16) == 1


def test_heatmap_equals_patch_softmax_on_a_one_patch_input(patch_model):
    x = torch.rand(2, 1, 64, 64) * 255  # 64 px = 2x2 feature cells = the window
    with torch.no_grad():
        expected = torch.softmax(patch_model(x), dim=1)
    heat = patch_heatmap(patch_model, x, window=heatmap_window(64))
    assert heat.shape == (2, 5, 1, 1)
    assert torch.allclose(heat[:, :, 0, 0], expected, atol=1e-5)


def test_heatmap_cells_are_patch_outputs_of_windows(patch_model):
    x = torch.rand(1, 1, 96, 64) * 255  # feature map 3x2, window 2 -> heatmap 2x1
    heat = patch_heatmap(patch_model, x, window=2)
    assert heat.shape == (1, 5, 2, 1)
    with torch.no_grad():
        f = patch_model.features(x)
        bottom = torch.softmax(patch_model.head(f[:, :, 1:3, 0:2].mean((2, 3))), dim=1)
    assert torch.allclose(heat[:, :, 1, 0], bottom, atol=1e-5)
    assert torch.allclose(heat.sum(1), torch.ones(1, 2, 1))


def test_the_two_step_heatmap_is_softmax(patch_model):
    # the two-step baseline's heatmaps (section 3.1.4) are the patch classifier's probabilities
    maps = patch_heatmap(patch_model, torch.rand(2, 1, 96, 64) * 255, 1)
    torch.testing.assert_close(maps.sum(1), torch.ones_like(maps.sum(1)))


def test_patch_heatmap_restores_the_training_mode(patch_model):
    patch_model.train()
    try:
        patch_heatmap(patch_model, torch.rand(1, 1, 64, 64) * 255, window=2)
        assert patch_model.training
    finally:
        patch_model.eval()


def test_weights_are_copied_not_shared():
    head = nn.Linear(8, 5)
    hm = PatchHeatmap(head, window=3)
    assert torch.equal(hm.conv.weight[:, :, 0, 0], head.weight)
    assert torch.equal(hm.conv.bias, head.bias)
    assert hm.conv.weight.data_ptr() != head.weight.data_ptr()
    before = head.weight.detach().clone()
    with torch.no_grad():
        hm.conv.weight.add_(1.0)
    assert torch.equal(head.weight, before)


def test_output_shape_is_valid_window_positions():
    hm = PatchHeatmap(nn.Linear(8, 5), window=3).eval()
    assert hm(torch.rand(2, 8, 9, 6)).shape == (2, 5, 7, 4)
    assert heatmap_size((9, 6), 3) == (7, 4)


def test_small_maps_are_pooled_whole_instead_of_failing():
    hm = PatchHeatmap(nn.Linear(8, 5), window=7)
    x = torch.rand(2, 8, 2, 9)
    out = hm(x)
    assert out.shape == (2, 5, 1, 3)
    assert heatmap_size((2, 9), 7) == (1, 3)
    assert hm(torch.rand(2, 8, 1, 1)).shape == (2, 5, 1, 1)


def test_relu_activation():
    head = nn.Linear(8, 5)
    hm = PatchHeatmap(head, window=2, activation="relu")
    x = torch.rand(1, 8, 2, 2)
    with torch.no_grad():
        assert torch.allclose(hm(x)[:, :, 0, 0], torch.relu(head(x.mean((2, 3)))), atol=1e-6)


def test_unknown_activation_refused():
    with pytest.raises(ValueError, match="activation"):
        PatchHeatmap(nn.Linear(8, 5), window=2, activation="sigmoid")
