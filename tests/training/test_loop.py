import numpy as np
import pytest
import torch
from helpers.toy import toy_patches

from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.data import make_loader
from e2e_mammo.data.augment import AugmentConfig
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.training.loop import (
    EpochSettings,
    balanced_sample_weights,
    evaluate,
    train_one_epoch,
)


def test_balanced_weights_example_from_brief():
    w = balanced_sample_weights(torch.tensor([0, 0, 0, 1]), 5)
    assert torch.allclose(w, torch.tensor([2 / 3, 2 / 3, 2 / 3, 2.0]))


def test_balanced_weights_sum_to_batch_size_and_equal_class_totals():
    y = torch.tensor([0, 1, 1, 2, 2, 2, 2, 4])
    w = balanced_sample_weights(y, 5)
    assert w.sum().item() == pytest.approx(8.0)
    totals = [w[y == k].sum().item() for k in (0, 1, 2, 4)]
    assert max(totals) == pytest.approx(min(totals))


def test_toy_set_is_learned_from_a_loader():
    # VGG16 (no BatchNorm): a ResNet's BN running statistics need more than a few steps to
    # settle, so its eval-mode accuracy after 3 tiny epochs says little about the loop.
    torch.manual_seed(0)
    model = build_patch_classifier("vgg16", n_classes=2, mean=100.0)
    train = make_loader(toy_patches(48, 0), 16, shuffle=True, seed=0)
    val = make_loader(toy_patches(32, 1), 16, shuffle=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for epoch in range(3):
        train.batch_sampler.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            train,
            optimizer=opt,
            settings=EpochSettings(augment=AugmentConfig()),
            generator=torch.Generator().manual_seed(epoch),
            device="cpu",
        )
    assert set(stats) == {"loss", "accuracy"}
    out = evaluate(model, val, device="cpu")
    assert out["probs"].shape == (32, 2)
    assert np.allclose(out["probs"].sum(1), 1.0, atol=1e-5)
    assert out["accuracy"] > 0.9 and out["auc"] > 0.9


def test_evaluate_returns_rows_labels_and_flip_tta():
    torch.manual_seed(0)
    model = build_patch_classifier("resnet50", n_classes=2).eval()
    data = toy_patches(6, 2)
    out = evaluate(model, make_loader(data, 4, shuffle=False), device="cpu", tta=True)
    assert list(out["index"]) == list(range(6)) and list(out["labels"]) == list(data.labels)
    x = data.__getitems__(list(range(6)))[0].float() * RESCALE_16BIT
    with torch.no_grad():
        flips = [x, x.flip(3), x.flip(2), x.flip((2, 3))]
        expected = torch.stack([torch.softmax(model(v), 1) for v in flips]).mean(0)
    assert np.allclose(out["tta_probs"], expected.numpy(), atol=1e-5)
    assert "tta_auc" in out


def test_single_sample_batches_are_skipped_in_training():
    torch.manual_seed(0)
    model = build_patch_classifier("resnet50", n_classes=2)
    loader = make_loader(toy_patches(1, 0), 4, shuffle=False)
    with pytest.raises(ValueError, match="no training batch"):
        train_one_epoch(
            model,
            loader,
            optimizer=torch.optim.Adam(model.parameters()),
            generator=torch.Generator(),
            device="cpu",
        )


def test_empty_split_evaluates_to_nan_metrics():
    model = build_patch_classifier("resnet50", n_classes=2)
    out = evaluate(model, [], device="cpu")
    assert out["labels"].size == 0 and out["probs"] is None
    assert out["auc"] != out["auc"] and out["accuracy"] != out["accuracy"]


def _linear_model_and_batches():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.randint(0, 65535, (4, 1, 2, 2), dtype=torch.int32).to(torch.uint16)
    y = torch.tensor([0, 1, 1, 0])
    return model, x, y


def _one_epoch(model, batches, accumulate):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train_one_epoch(
        model,
        batches,
        optimizer=opt,
        device="cpu",
        generator=torch.Generator(),
        settings=EpochSettings(balance=False, accumulate=accumulate),
    )
    return [p.detach().clone() for p in model.parameters()]


def test_accumulating_two_batches_equals_one_step_on_their_union():
    model, x, y = _linear_model_and_batches()
    start = [p.detach().clone() for p in model.parameters()]
    halves = [(x[:2], y[:2], torch.arange(2)), (x[2:], y[2:], torch.arange(2, 4))]
    accumulated = _one_epoch(model, halves, accumulate=2)
    with torch.no_grad():
        for p, s in zip(model.parameters(), start, strict=True):
            p.copy_(s)
    whole = _one_epoch(model, [(x, y, torch.arange(4))], accumulate=1)
    for a, b in zip(accumulated, whole, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
