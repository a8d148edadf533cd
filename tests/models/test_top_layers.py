import pytest
import torch
from torch import nn

from e2e_mammo.models.top_layers import FCTop, build_top, resnet_stage, vgg_stage
from e2e_mammo.plan.tops import describe_top, validate_top

torch.set_num_threads(1)

RESNET = {"type": "resnet", "blocks": [[8, 8, 16, 2], [4, 4, 8, 1]]}
VGG = {"type": "vgg", "blocks": [[8, 1], [4, 2]]}
FC = {"type": "fc", "pool": 5, "units": [6, 4]}


@pytest.mark.parametrize("spec", [RESNET, VGG], ids=["resnet", "vgg"])
def test_conv_tops_map_features_to_logits(spec):
    top = build_top(spec, in_channels=12, n_classes=2).eval()
    with torch.no_grad():
        out = top(torch.rand(3, 12, 7, 5))
    assert out.shape == (3, 2)


def test_fc_top_maps_heatmap_to_logits():
    top = build_top(FC, in_channels=5, n_classes=2, heatmap_hw=(11, 7)).eval()
    with torch.no_grad():
        out = top(torch.rand(3, 5, 11, 7))
    assert out.shape == (3, 2)


def test_fc_top_flattened_size_uses_ceil_of_the_pool():
    top = build_top(FC, in_channels=5, heatmap_hw=(11, 7))
    assert isinstance(top, FCTop)
    assert top.in_features == 5 * 3 * 2  # ceil(11/5) * ceil(7/5)
    assert top.shortcut.in_features == 30 and top.shortcut.out_features == 2
    linears = [m for m in top.fc if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(30, 6), (6, 4), (4, 2)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in top.fc) == 2


def test_fc_top_adds_the_shortcut_to_the_logits():
    top = build_top(FC, in_channels=5, heatmap_hw=(5, 5)).eval()
    x = torch.rand(2, 5, 5, 5)
    with torch.no_grad():
        z = torch.flatten(top.pool(x), 1)
        assert torch.allclose(top(x), top.fc(z) + top.shortcut(z))


def test_fc_top_refuses_a_heatmap_of_another_size():
    top = build_top(FC, in_channels=5, heatmap_hw=(5, 5)).eval()
    with pytest.raises(ValueError, match="image size"):
        top(torch.rand(2, 5, 11, 11))


def test_fc_top_needs_the_heatmap_size():
    with pytest.raises(ValueError, match="heatmap_hw"):
        build_top(FC, in_channels=5)


def test_first_resnet_unit_is_strided_on_its_first_conv_as_the_paper():
    # the paper: "uses stride=2 in the first convolutional layer" (the authors' bottleneck_org),
    # not torchvision's v1.5 stride on the 3x3
    first = resnet_stage(12, (8, 8, 16), units=2)[0]
    assert first.conv1.stride == (2, 2)
    assert first.conv2.stride == (1, 1)


def test_first_resnet_unit_has_a_strided_projection():
    stage = resnet_stage(12, (8, 8, 16), units=3)
    first, second, third = stage
    proj_conv, proj_bn = first.downsample
    assert proj_conv.kernel_size == (1, 1) and proj_conv.stride == (2, 2)
    assert (proj_conv.in_channels, proj_conv.out_channels) == (12, 16)
    assert isinstance(proj_bn, nn.BatchNorm2d)
    for unit in (second, third):
        assert unit.downsample is None
        assert unit.conv1.stride == unit.conv2.stride == (1, 1)
    with torch.no_grad():
        assert stage.eval()(torch.rand(2, 12, 7, 6)).shape == (2, 16, 4, 3)


def test_resnet_unit_is_bottleneck_with_batch_norm():
    unit = resnet_stage(4, (3, 5, 6), units=1)[0]
    kernels = [
        (c.kernel_size, c.in_channels, c.out_channels) for c in (unit.conv1, unit.conv2, unit.conv3)
    ]
    assert kernels == [((1, 1), 4, 3), ((3, 3), 3, 5), ((1, 1), 5, 6)]
    assert [bn.num_features for bn in (unit.bn1, unit.bn2, unit.bn3)] == [3, 5, 6]


def test_vgg_stage_structure():
    stage = vgg_stage(3, depth=8, convs=2)
    kinds = [type(m) for m in stage]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2 + [nn.MaxPool2d]
    assert stage[0].kernel_size == (3, 3) and stage[0].padding == (1, 1)
    assert stage[-1].kernel_size == 2 and stage[-1].ceil_mode


def test_vgg_stage_keeps_a_1x1_map():
    stage = vgg_stage(3, depth=8, convs=1).eval()
    with torch.no_grad():
        assert stage(torch.rand(2, 3, 1, 1)).shape == (2, 8, 1, 1)
        assert stage(torch.rand(2, 3, 5, 4)).shape == (2, 8, 3, 2)


def test_conv_tops_survive_1x1_feature_maps():
    for spec in (RESNET, VGG):
        top = build_top(spec, in_channels=12).eval()
        with torch.no_grad():
            assert top(torch.rand(1, 12, 1, 1)).shape == (1, 2)


def test_new_layers_are_initialised_as_torchvision():
    torch.manual_seed(0)
    stage = resnet_stage(64, (64, 64, 256), units=1)
    conv = stage[0].conv2
    fan_out = conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    for bn in (stage[0].bn1, stage[0].downsample[1]):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    vconv = vgg_stage(3, 8, 1)[0]
    assert torch.all(vconv.bias == 0)


def test_describe_top_gives_the_papers_cells():
    assert describe_top({"type": "resnet", "blocks": [[512, 512, 1024, 2]] * 2}) == {
        "block1": "[512-512-1024] x 2",
        "block2": "[512-512-1024] x 2",
    }
    assert describe_top({"type": "vgg", "blocks": [[256, 1], [128, 1]]}) == {
        "block1": "256 x 1",
        "block2": "128 x 1",
    }
    assert describe_top({"type": "fc", "pool": 5, "units": [64, 32]}) == {
        "pool": "5x5",
        "fc1": "64",
        "fc2": "32",
    }


def test_describe_top_accepts_any_number_of_blocks():
    cells = describe_top({"type": "vgg", "blocks": [[8, 1], [8, 1], [4, 3]], "heatmap": True})
    assert cells == {"block1": "8 x 1", "block2": "8 x 1", "block3": "4 x 3"}


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"type": "dense"}, "type"),
        ({"blocks": [[8, 1]]}, "type"),
        ({"type": "vgg"}, "blocks"),
        ({"type": "vgg", "blocks": []}, "blocks"),
        ({"type": "vgg", "blocks": [[8, 1, 2]]}, r"blocks'\[0\]"),
        ({"type": "resnet", "blocks": [[8, 8, 16, 1], [8, 8, 1]]}, r"blocks'\[1\]"),
        ({"type": "resnet", "blocks": [[8, 0, 16, 1]]}, "positive"),
        ({"type": "vgg", "blocks": [[8, -1]]}, "positive"),
        ({"type": "vgg", "blocks": [[8.5, 1]]}, "positive"),
        ({"type": "vgg", "blocks": [[8, 1]], "heatmap": "yes"}, "heatmap"),
        ({"type": "vgg", "blocks": [[8, 1]], "depth": 3}, "depth"),
        ({"type": "fc", "units": [64, 32]}, "pool"),
        ({"type": "fc", "pool": 0, "units": [64, 32]}, "pool"),
        ({"type": "fc", "pool": 5}, "units"),
        ({"type": "fc", "pool": 5, "units": [64, 0]}, "units"),
        ({"type": "fc", "pool": 5, "units": [64, 32], "heatmap": False}, "heatmap"),
        ({"type": "fc", "pool": 5, "units": [64, 32], "blocks": [[8, 1]]}, "blocks"),
    ],
)
def test_validate_top_names_the_problem(spec, match):
    with pytest.raises(ValueError, match=match):
        validate_top(spec)


@pytest.mark.parametrize("spec", [RESNET, VGG, FC, {**VGG, "heatmap": True}])
def test_validate_top_accepts_good_specs(spec):
    validate_top(spec)
