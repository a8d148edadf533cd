import pytest
import torch

from e2e_mammo.models.backbones import block_names, build_backbone, out_channels


@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
def test_named_blocks_exist_in_order(arch):
    backbone = build_backbone(arch)
    assert [n for n, _ in backbone.named_children()] == block_names(arch)


def test_resnet_stem_holds_conv_bn_relu_pool():
    stem = build_backbone("resnet50").stem
    assert [n for n, _ in stem.named_children()] == ["conv1", "bn1", "relu", "maxpool"]


def test_vgg_blocks_hold_convs_and_one_pool():
    backbone = build_backbone("vgg16")
    n_convs = [sum(isinstance(m, torch.nn.Conv2d) for m in b) for b in backbone.children()]
    assert n_convs == [2, 2, 3, 3, 3]
    for block in backbone.children():
        assert isinstance(block[-1], torch.nn.MaxPool2d)


@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
def test_feature_map_shape_on_32px(arch):
    backbone = build_backbone(arch).eval()
    with torch.no_grad():
        out = backbone(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, out_channels(arch), 1, 1)


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="unknown arch"):
        build_backbone("alexnet")


def test_paper_top_46_layers_of_resnet50_are_layer3_5_and_layer4():
    from e2e_mammo.models.backbones import top_layer_count

    backbone = build_backbone("resnet50")
    assert top_layer_count(backbone, "resnet50", ["layer3.5", "layer4"]) == 46
    assert top_layer_count(backbone, "resnet50", ["layer4"]) == 36  # the old default


def test_paper_top_11_layers_of_vgg16_are_block4_and_block5():
    from e2e_mammo.models.backbones import top_layer_count

    assert top_layer_count(build_backbone("vgg16"), "vgg16", ["block4", "block5"]) == 11


def test_default_top_blocks_are_the_papers_layer_counts():
    from pathlib import Path

    import yaml

    from e2e_mammo.models.backbones import top_layer_count

    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    blocks = params["patch_training"]["top_blocks"]
    counts = {arch: top_layer_count(build_backbone(arch), arch, blocks[arch]) for arch in blocks}
    assert counts == {"resnet50": 46, "vgg16": 11}
