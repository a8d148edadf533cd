import pytest
import torch

from e2e_mammo.models.patch_classifier import CLASS_NAMES, PatchClassifier, build_patch_classifier


def test_class_names_background_first():
    assert len(CLASS_NAMES) == 5
    assert CLASS_NAMES[0] == "background"


@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
@pytest.mark.parametrize("size", [(32, 32), (40, 56)])
def test_logits_shape_for_grey_input(arch, size):
    model = build_patch_classifier(arch).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 1, *size))
    assert out.shape == (3, 5)


def test_has_backbone_and_linear_head():
    model = build_patch_classifier("resnet50", n_classes=3)
    assert isinstance(model, PatchClassifier)
    assert isinstance(model.head, torch.nn.Linear)
    assert model.head.out_features == 3
    assert model.head.in_features == 2048


def test_grey_is_replicated_to_three_channels():
    model = build_patch_classifier("vgg16").eval()
    x = torch.rand(2, 1, 32, 32) * 255
    rgb = model.input_norm(x) * model.input_norm.std  # undo the per-channel ImageNet std
    assert torch.allclose(rgb[:, 0], rgb[:, 1]) and torch.allclose(rgb[:, 1], rgb[:, 2])


def test_unknown_pretrained_choice_refused():
    with pytest.raises(ValueError, match="pretrained"):
        build_patch_classifier("resnet50", pretrained="yes")
