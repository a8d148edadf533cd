from pathlib import Path

import pytest
import torch
from torchvision import models as tvm

from e2e_mammo.models.backbones import _vgg16_features, build_backbone
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.pretrained import load_imagenet_backbone
from e2e_mammo.plan.weights import MissingWeightsError, imagenet_weights_path, weights_file_name


def test_file_names_come_from_torchvision_enums():
    assert weights_file_name("resnet50") == Path(tvm.ResNet50_Weights.IMAGENET1K_V1.url).name
    assert weights_file_name("vgg16") == Path(tvm.VGG16_Weights.IMAGENET1K_V1.url).name


def test_weight_url_table_equals_torchvision_enums():
    from e2e_mammo.models.backbones import ARCHS, _check_arch
    from e2e_mammo.plan.weights import WEIGHT_URLS, weights_url
    from e2e_mammo.plan.weights import _check_arch as light_check_arch

    assert WEIGHT_URLS == {
        "resnet50": tvm.ResNet50_Weights.IMAGENET1K_V1.url,
        "vgg16": tvm.VGG16_Weights.IMAGENET1K_V1.url,
    }
    assert tuple(WEIGHT_URLS) == ARCHS
    assert weights_url("vgg16") == tvm.VGG16_Weights.IMAGENET1K_V1.url
    message = r"unknown arch 'alexnet'; expected one of resnet50, vgg16"
    for check in (_check_arch, light_check_arch):
        with pytest.raises(ValueError, match=message):
            check("alexnet")


def test_missing_weights_message_names_path_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / weights_file_name("resnet50")
    with pytest.raises(MissingWeightsError) as err:
        imagenet_weights_path("resnet50")
    assert isinstance(err.value, FileNotFoundError)
    assert str(expected) in str(err.value)
    assert "resnet50-" in str(err.value) and "pretrained: none" in str(err.value)


def test_missing_explicit_file_is_reported(tmp_path):
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        imagenet_weights_path("vgg16", tmp_path / "nope.pth")


def test_build_with_imagenet_but_no_file_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="vgg16-"):
        build_patch_classifier("vgg16", pretrained="imagenet")


def _cache_file(tmp_path, arch):
    path = tmp_path / "hub" / "checkpoints" / weights_file_name(arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_resnet50_remapped_weights_reproduce_torchvision(tmp_path, monkeypatch):
    torch.manual_seed(0)
    ref = tvm.resnet50(weights=None).eval()
    for m in ref.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.save(ref.state_dict(), _cache_file(tmp_path, "resnet50"))
    model = build_patch_classifier("resnet50", pretrained="imagenet").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        want = ref.layer4(ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(
            ref.conv1(x))))))))  # fmt: skip
        assert torch.equal(model.backbone(x), want)


def test_vgg16_remapped_weights_reproduce_torchvision(tmp_path):
    torch.manual_seed(0)
    features = _vgg16_features().eval()
    # the layout of torchvision's vgg16-*.pth: features.* plus classifier.* (dropped on load)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    with torch.device("meta"):  # the real model's layout, without allocating 138M parameters
        real = tvm.vgg16(weights=None).state_dict()
    assert {k: v.shape for k, v in real.items() if k.startswith("features.")} == {
        k: v.shape for k, v in state.items()
    }
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    backbone = load_imagenet_backbone(build_backbone("vgg16"), "vgg16", path).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(backbone(x), features(x))


def test_mismatched_file_fails_with_clear_message(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(_vgg16_features().state_dict(), path)  # keys without "features." prefix
    with pytest.raises(ValueError, match="not torchvision resnet50") as err:
        load_imagenet_backbone(build_backbone("resnet50"), "resnet50", path)
    assert "wrong.pth" in str(err.value)
