import pytest
import torch

from e2e_mammo.constants import IMAGE_CLASSES, PATCH_CLASSES
from e2e_mammo.models.backbones import build_backbone
from e2e_mammo.models.heatmap import PatchHeatmap
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.top_layers import FCTop
from e2e_mammo.models.whole_image import (
    WholeImageClassifier,
    build_whole_image_classifier,
    feature_map_size,
    whole_image_spec,
)
from e2e_mammo.plan.schedules import Stage
from e2e_mammo.training.staged import apply_stage

torch.set_num_threads(1)

TOPS = {
    "resnet": {"type": "resnet", "blocks": [[8, 8, 16, 1], [4, 4, 8, 1]]},
    "vgg": {"type": "vgg", "blocks": [[8, 1], [4, 1]]},
    "resnet_heatmap": {"type": "resnet", "blocks": [[8, 8, 16, 1]], "heatmap": True},
    "vgg_heatmap": {"type": "vgg", "blocks": [[8, 1]], "heatmap": True},
    "fc": {"type": "fc", "pool": 5, "units": [8, 4]},
}
SIZE = (64, 48)
PATCH = 64


@pytest.fixture(scope="module")
def patch_models():
    torch.manual_seed(0)
    return {arch: build_patch_classifier(arch, mean=50.0) for arch in ("resnet50", "vgg16")}


@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
@pytest.mark.parametrize("size", [(64, 48), (100, 77), (256, 192), (33, 40)])
def test_feature_map_size_matches_a_forward_pass(arch, size):
    with torch.device("meta"):  # shapes only: the real modules, no arithmetic
        backbone = build_backbone(arch)
        out = backbone(torch.empty(1, 3, *size))
    assert feature_map_size(arch, size) == tuple(out.shape[-2:])


def test_feature_map_size_refuses_too_small_images():
    with pytest.raises(ValueError, match="too small"):
        feature_map_size("vgg16", (31, 64))


@pytest.mark.parametrize("kind", list(TOPS))
@pytest.mark.parametrize("arch", ["resnet50", "vgg16"])
def test_output_is_logits_per_image(patch_models, arch, kind):
    model = build_whole_image_classifier(patch_models[arch], arch, TOPS[kind], SIZE, PATCH)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *SIZE) * 255)
    assert out.shape == (2, 2)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("kind", list(TOPS))
def test_1x1_feature_maps_do_not_crash(patch_models, kind):
    size = (32, 32)  # ResNet50 feature map 1x1, heatmap window (7) clipped to 1
    model = build_whole_image_classifier(
        patch_models["resnet50"], "resnet50", TOPS[kind], size, 224
    )
    model.train()  # batch statistics: 2 images x 1x1
    out = model(torch.rand(2, 1, *size) * 255)
    assert out.shape == (2, 2)


def test_parts_and_heatmap_presence(patch_models):
    plain = build_whole_image_classifier(patch_models["vgg16"], "vgg16", TOPS["vgg"], SIZE, PATCH)
    assert plain.heatmap is None
    assert plain.head.block1[0].in_channels == 512
    hm = build_whole_image_classifier(
        patch_models["vgg16"], "vgg16", TOPS["vgg_heatmap"], SIZE, PATCH, heatmap_activation="relu"
    )
    assert isinstance(hm.heatmap, PatchHeatmap) and hm.heatmap.activation == "relu"
    assert hm.heatmap.window == 2
    assert hm.head.block1[0].in_channels == len(PATCH_CLASSES)


@pytest.mark.parametrize("kind", ["vgg_heatmap", "fc"])
def test_heatmap_inside_a_whole_image_classifier_is_relu_by_default(patch_models, kind):
    # the paper, section 2.2: "the activation is always assumed to be ReLU"
    model = build_whole_image_classifier(patch_models["vgg16"], "vgg16", TOPS[kind], SIZE, PATCH)
    assert model.heatmap.activation == "relu"


def test_shipped_params_build_heatmap_rows_with_relu():
    from pathlib import Path

    from e2e_mammo.config import load_yaml
    from e2e_mammo.plan.whole_rows import network_settings

    params = load_yaml(Path(__file__).parents[2] / "params.yaml")
    rows = [r for r in params["table2"] + params["table3"] if r["top"]["type"] in ("fc", "resnet")]
    heatmap_rows = [r for r in rows if r["top"]["type"] == "fc" or r["top"].get("heatmap")]
    assert len(heatmap_rows) == 8
    for row in heatmap_rows:
        network = network_settings(row, params["whole_image"], "p", (64, 48), 32)
        assert network.heatmap_activation == "relu", row["row"]


def test_fc_top_is_sized_for_the_heatmap(patch_models):
    # ResNet50 at 256x192 -> 8x6 features; window 2 -> heatmap 7x5; pool 5 -> 2x1
    model = build_whole_image_classifier(
        patch_models["resnet50"], "resnet50", TOPS["fc"], (256, 192), PATCH
    )
    assert isinstance(model.head, FCTop)
    assert model.head.in_features == 5 * 2 * 1
    assert isinstance(model.heatmap, PatchHeatmap)


def test_patch_model_is_copied_not_modified(patch_models):
    patch = patch_models["resnet50"]
    model = build_whole_image_classifier(patch, "resnet50", TOPS["fc"], SIZE, PATCH)
    assert model.backbone is not patch.backbone and model.input_norm is not patch.input_norm
    assert torch.equal(model.backbone.layer1[0].conv1.weight, patch.backbone.layer1[0].conv1.weight)
    assert float(model.input_norm.mean) == 50.0
    before = patch.backbone.layer1[0].conv1.weight.detach().clone()
    with torch.no_grad():
        model.backbone.layer1[0].conv1.weight.add_(1.0)
    assert torch.equal(patch.backbone.layer1[0].conv1.weight, before)


def test_wrong_arch_for_the_patch_model_refused(patch_models):
    with pytest.raises(ValueError, match="arch"):
        build_whole_image_classifier(patch_models["vgg16"], "resnet50", TOPS["vgg"], SIZE, PATCH)


def test_head_stage_trains_only_the_new_top(patch_models):
    model = build_whole_image_classifier(
        patch_models["resnet50"], "resnet50", TOPS["resnet_heatmap"], SIZE, PATCH
    )
    stage = Stage(name="s1", epochs=1, lr=1e-4, trainable="head")
    trainable = apply_stage(model, stage, top_blocks=[])
    head_ids = {id(p) for p in model.head.parameters()}
    assert {id(p) for p in trainable} == head_ids
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not any(p.requires_grad for p in model.heatmap.parameters())


def test_activation_checkpointing_gives_the_same_gradients(patch_models):
    torch.manual_seed(1)
    model = build_whole_image_classifier(
        patch_models["resnet50"], "resnet50", TOPS["resnet"], SIZE, PATCH
    ).train()
    x = torch.rand(2, 1, *SIZE) * 255
    start = {k: v.clone() for k, v in model.state_dict().items()}

    def grads(checkpointing: bool) -> tuple[torch.Tensor, list[torch.Tensor], dict]:
        model.load_state_dict(start)
        model.zero_grad(set_to_none=True)
        model.activation_checkpointing = checkpointing
        out = model(x)
        out.sum().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters()], model.state_dict()

    out_a, grads_a, state_a = grads(False)
    out_b, grads_b, state_b = grads(True)
    assert torch.allclose(out_a, out_b)
    for ga, gb in zip(grads_a, grads_b, strict=True):
        assert torch.allclose(ga, gb, rtol=1e-4, atol=1e-6)
    # batch-norm running statistics are updated once, not again by the recomputation
    key = "backbone.layer1.0.bn1.running_mean"
    assert torch.allclose(state_a[key], state_b[key])
    assert torch.equal(state_a["backbone.stem.bn1.num_batches_tracked"], torch.tensor(1))
    assert torch.equal(state_b["backbone.stem.bn1.num_batches_tracked"], torch.tensor(1))


def test_activation_checkpointing_stores_fewer_activations(patch_models):
    model = build_whole_image_classifier(
        patch_models["resnet50"], "resnet50", TOPS["vgg"], SIZE, PATCH
    ).train()
    x = torch.rand(2, 1, *SIZE) * 255

    def saved_bytes(checkpointing: bool) -> int:
        model.activation_checkpointing = checkpointing
        total = [0]

        def pack(t: torch.Tensor) -> torch.Tensor:
            total[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x)
        return total[0]

    assert saved_bytes(True) < saved_bytes(False) / 10


def test_activation_checkpointing_is_not_saved(patch_models):
    model = build_whole_image_classifier(patch_models["vgg16"], "vgg16", TOPS["vgg"], SIZE, PATCH)
    assert isinstance(model, WholeImageClassifier)
    model.activation_checkpointing = True
    assert not any("checkpoint" in k for k in model.state_dict())


def test_whole_image_spec_is_plain():
    spec = whole_image_spec(
        "resnet50", {"type": "resnet", "blocks": ((8, 8, 16, 1),)}, (64, 48), 224
    )
    assert spec == {
        "arch": "resnet50",
        "top": {"type": "resnet", "blocks": [[8, 8, 16, 1]]},
        "image_size": [64, 48],
        "patch_size": 224,
        "n_classes": 2,
        "class_names": list(IMAGE_CLASSES),
        "heatmap_activation": "relu",
        "patch_n_classes": 5,
    }
