import pytest
import torch

from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.plan.schedules import (
    Stage,
    scale_schedule,
    schedule_from_config,
    stage_for_epoch,
    total_epochs,
)
from e2e_mammo.training.staged import (
    KERAS_L2_FACTOR,
    apply_stage,
    freeze_frozen_batchnorm,
    head_kernels,
    make_optimizer,
)

PAPER = [
    {"name": "head", "epochs": 3, "lr": 1e-3, "trainable": "head"},
    {"name": "top", "epochs": 10, "lr": 1e-4, "trainable": "top"},
    {"name": "all", "epochs": 37, "lr": 1e-5, "trainable": "all"},
]


@pytest.fixture(scope="module")
def resnet():
    return build_patch_classifier("resnet50")


def test_schedule_from_config_and_total():
    schedule = schedule_from_config(PAPER)
    assert schedule[1] == Stage("top", 10, 1e-4, "top", 0.0)
    assert total_epochs(schedule) == 50


def test_bad_trainable_refused():
    with pytest.raises(ValueError, match="trainable"):
        schedule_from_config([{"epochs": 1, "lr": 1e-3, "trainable": "middle"}])


def test_stage_for_epoch_boundaries():
    schedule = schedule_from_config(PAPER)
    assert stage_for_epoch(schedule, 0)[0] == 0
    assert stage_for_epoch(schedule, 2)[0] == 0
    assert stage_for_epoch(schedule, 3)[0] == 1
    assert stage_for_epoch(schedule, 12)[0] == 1
    assert stage_for_epoch(schedule, 13)[0] == 2
    assert stage_for_epoch(schedule, 49) == (2, schedule[2])
    with pytest.raises(ValueError):
        stage_for_epoch(schedule, 50)


def _trainable_blocks(model):
    names = ["head"] + [f"backbone.{n}" for n, _ in model.backbone.named_children()]
    return {
        n: all(p.requires_grad for p in model.get_submodule(n).parameters())
        for n in names
        if any(True for _ in model.get_submodule(n).parameters())
    }


def test_head_stage_trains_only_the_head(resnet):
    params = apply_stage(resnet, Stage("h", 1, 1e-3, "head"), ["layer4"])
    assert params == list(resnet.head.parameters())
    assert not any(p.requires_grad for p in resnet.backbone.parameters())


def test_top_stage_unfreezes_top_blocks(resnet):
    apply_stage(resnet, Stage("t", 1, 1e-4, "top"), ["layer4"])
    assert _trainable_blocks(resnet) == {
        "head": True,
        "backbone.stem": False,
        "backbone.layer1": False,
        "backbone.layer2": False,
        "backbone.layer3": False,
        "backbone.layer4": True,
    }


def test_top_blocks_accept_sub_block_names(resnet):
    apply_stage(resnet, Stage("t", 1, 1e-4, "top"), ["layer3.5", "layer4"])
    assert all(p.requires_grad for p in resnet.backbone.layer3[5].parameters())
    assert not any(p.requires_grad for p in resnet.backbone.layer3[4].parameters())


def test_all_stage_trains_everything(resnet):
    params = apply_stage(resnet, Stage("a", 1, 1e-5, "all"), ["layer4"])
    assert len(params) == len(list(resnet.parameters()))


def test_vgg_top_blocks():
    model = build_patch_classifier("vgg16")
    apply_stage(model, Stage("t", 1, 1e-4, "top"), ["block4", "block5"])
    got = _trainable_blocks(model)
    assert [n for n, v in got.items() if v] == ["head", "backbone.block4", "backbone.block5"]


def test_unknown_top_block_refused(resnet):
    with pytest.raises(ValueError, match="layer9"):
        apply_stage(resnet, Stage("t", 1, 1e-4, "top"), ["layer9"])


def test_frozen_batchnorm_in_eval_mode(resnet):
    apply_stage(resnet, Stage("t", 1, 1e-4, "top"), ["layer4"])
    resnet.train()
    freeze_frozen_batchnorm(resnet)
    assert not resnet.backbone.stem.bn1.training
    assert not resnet.backbone.layer3[0].bn1.training
    assert resnet.backbone.layer4[0].bn1.training


def test_make_optimizer_is_adam_with_stage_lr(resnet):
    stage = Stage("w", 1, 1e-4, "head", weight_decay=1e-3)
    opt = make_optimizer(apply_stage(resnet, stage, []), stage)
    assert isinstance(opt, torch.optim.Adam)
    assert opt.param_groups[0]["lr"] == 1e-4
    assert opt.param_groups[0]["weight_decay"] == 1e-3


def test_head_kernels_are_the_heads_weights_without_biases(resnet):
    kernels = head_kernels(resnet)
    assert [tuple(p.shape) for p in kernels] == [tuple(resnet.head.weight.shape)]


def test_make_optimizer_decays_only_the_given_parameters_at_keras_scale(resnet):
    stage = Stage("w", 1, 1e-4, "head", weight_decay=1e-3)
    params = apply_stage(resnet, stage, [])
    opt = make_optimizer(params, stage, head_kernels(resnet), KERAS_L2_FACTOR)
    by_param = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert by_param[id(resnet.head.weight)] == pytest.approx(2e-3)
    assert by_param[id(resnet.head.bias)] == 0.0


def test_scale_schedule_rounds_and_keeps_at_least_one_epoch():
    stages = [
        {"name": "top", "trainable": "head", "lr": 1e-4, "epochs": 30},
        {"name": "all", "trainable": "all", "lr": 1e-5, "epochs": 2},
    ]
    scaled = scale_schedule(stages, 0.1)
    assert [s.epochs for s in scaled] == [3, 1]


def test_fixed_stats_keep_trainable_batchnorm_of_named_blocks_in_eval(resnet):
    apply_stage(resnet, Stage("a", 1, 1e-5, "all"), [])
    resnet.train()
    freeze_frozen_batchnorm(resnet, ["backbone"])
    assert not resnet.backbone.layer4[0].bn1.training
    assert resnet.backbone.layer4[0].bn1.weight.requires_grad
