import numpy as np
import pytest
import torch

from e2e_mammo.models import build_patch_classifier
from e2e_mammo.training.augment import AugmentConfig
from e2e_mammo.training.loop import (
    RESCALE_16BIT,
    balanced_sample_weights,
    evaluate,
    fit,
    prepare_batch,
    train_one_epoch,
)
from e2e_mammo.training.staged import Stage


def toy_set(n, seed, size=32):
    """Bright (class 1) vs dark (class 0) noisy 16-bit patches."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels == 1, 40000, 12000)[:, None, None, None]
    images = base + rng.normal(0, 4000, (n, 1, size, size))
    return torch.from_numpy(np.clip(images, 0, 65535).astype(np.uint16)), torch.from_numpy(labels)


def test_balanced_weights_example_from_brief():
    w = balanced_sample_weights(torch.tensor([0, 0, 0, 1]), 5)
    assert torch.allclose(w, torch.tensor([2 / 3, 2 / 3, 2 / 3, 2.0]))


def test_balanced_weights_sum_to_batch_size_and_equal_class_totals():
    y = torch.tensor([0, 2, 2, 4, 4, 4, 4, 1])
    w = balanced_sample_weights(y, 5)
    assert w.sum().item() == pytest.approx(len(y))
    totals = {c: w[y == c].sum().item() for c in (0, 1, 2, 4)}
    assert max(totals.values()) == pytest.approx(min(totals.values()))


def test_prepare_batch_scales_16bit_and_subtracts_mean():
    x = torch.tensor([0, 65535], dtype=torch.uint16).view(2, 1, 1, 1)
    out = prepare_batch(x, mean=52.18, device="cpu")
    assert out.dtype == torch.float32
    assert torch.allclose(out.flatten(), torch.tensor([-52.18, 255.0 - 52.18]))
    assert RESCALE_16BIT == pytest.approx(0.003891, abs=1e-6)


def test_toy_set_is_learned():
    # VGG16 (no BatchNorm): a ResNet's BN running statistics need more than a few steps to
    # settle, so its eval-mode accuracy after 3 tiny epochs says little about the loop.
    torch.manual_seed(0)
    model = build_patch_classifier("vgg16", n_classes=5)
    x, y = toy_set(48, 0)
    xv, yv = toy_set(32, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for epoch in range(3):
        stats = train_one_epoch(
            model,
            x,
            y,
            optimizer=opt,
            batch_size=16,
            mean=100.0,
            augment_cfg=AugmentConfig(),
            generator=torch.Generator().manual_seed(epoch),
            device="cpu",
        )
    assert set(stats) == {"loss", "accuracy"}
    out = evaluate(model, xv, yv, batch_size=16, mean=100.0, device="cpu")
    assert out["probs"].shape == (32, 5)
    assert np.allclose(out["probs"].sum(1), 1.0, atol=1e-5)
    assert out["accuracy"] > 0.9


def test_train_one_epoch_accepts_a_loader():
    torch.manual_seed(0)
    model = build_patch_classifier("vgg16", n_classes=2)
    x, y = toy_set(8, 0)
    loader = [(x[:4], y[:4]), (x[4:], y[4:])]
    before = [p.detach().clone() for p in model.head.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_one_epoch(
        model,
        loader,
        None,
        optimizer=opt,
        batch_size=4,
        mean=0.0,
        augment_cfg=None,
        generator=torch.Generator().manual_seed(0),
        device="cpu",
    )
    assert any(not torch.equal(a, b) for a, b in zip(before, model.head.parameters(), strict=True))


def test_fit_reports_history_best_epoch_and_calls_on_epoch(tmp_path):
    torch.manual_seed(0)
    model = build_patch_classifier("resnet50", n_classes=5)
    train, val = toy_set(16, 0), toy_set(8, 1)
    records = []
    result = fit(
        model,
        train,
        val,
        test=val,
        schedule=[Stage("head", 1, 1e-3, "head"), Stage("all", 1, 1e-3, "all")],
        top_blocks=["layer4"],
        batch_size=8,
        mean=100.0,
        augment_cfg=None,
        seed=0,
        device="cpu",
        checkpoint_dir=tmp_path,
        on_epoch=records.append,
    )
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert [r["stage"] for r in result.history] == ["head", "all"]
    assert records == result.history
    accs = [r["val_accuracy"] for r in result.history]
    assert result.best_val_accuracy == max(accs)
    assert result.best_epoch == accs.index(max(accs)) + 1
    assert result.test_accuracy == pytest.approx(result.best_val_accuracy)
    assert (tmp_path / "last.pt").is_file() and (tmp_path / "best.pt").is_file()
