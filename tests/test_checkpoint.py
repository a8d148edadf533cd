import random

import numpy as np
import pytest
import torch

from e2e_mammo.models import build_patch_classifier
from e2e_mammo.training import checkpoint as ckpt
from e2e_mammo.training.augment import AugmentConfig
from e2e_mammo.training.loop import fit
from e2e_mammo.training.staged import Stage

SCHEDULE = [Stage("head", 1, 1e-3, "head"), Stage("top", 2, 1e-4, "top")]


@pytest.fixture(scope="module", autouse=True)
def deterministic():
    threads = torch.get_num_threads()
    was = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(was)
    torch.set_num_threads(threads)


def data(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 5
    images = torch.rand(n, 1, 32, 32, generator=g) * 20000 + labels.view(n, 1, 1, 1) * 9000
    return images.to(torch.uint16), labels


def run(tmp, max_epochs=None, schedule=SCHEDULE, arch="resnet50"):
    torch.manual_seed(0)
    model = build_patch_classifier(arch)
    result = fit(
        model,
        data(24, 0),
        data(10, 1),
        schedule=schedule,
        top_blocks=["layer4"] if arch == "resnet50" else ["block5"],
        batch_size=8,
        mean=100.0,
        augment_cfg=AugmentConfig(),
        seed=3,
        device="cpu",
        checkpoint_dir=tmp,
        max_epochs=max_epochs,
        config={"arch": arch},
    )
    return model, result


def test_save_atomic_leaves_no_temp_file(tmp_path):
    ckpt.save_atomic({"a": torch.ones(2)}, tmp_path / "x.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
    assert torch.equal(ckpt.load(tmp_path / "x.pt")["a"], torch.ones(2))


def test_rng_states_round_trip():
    states = ckpt.rng_states()
    a = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.restore_rng_states(states)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    model, result = run(folder)
    return folder, model.state_dict(), result


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("killed_after", [1, 2])  # at a stage boundary / inside a stage
def test_killed_run_resumes_to_the_same_result(tmp_path, uninterrupted, killed_after):
    folder_a, state_a, res_a = uninterrupted
    _, partial = run(tmp_path, max_epochs=killed_after)
    assert not partial.completed and len(partial.history) == killed_after
    state = ckpt.load(tmp_path / "last.pt")
    assert state["epoch"] == killed_after and not state.get("completed")
    model_b, res_b = run(tmp_path)
    assert res_b.history == res_a.history
    assert (res_b.best_epoch, res_b.best_val_accuracy) == (
        res_a.best_epoch,
        res_a.best_val_accuracy,
    )
    assert_same_state(state_a, model_b.state_dict())
    last_a, last_b = ckpt.load(folder_a / "last.pt"), ckpt.load(tmp_path / "last.pt")
    assert_same_state(last_a["model"], last_b["model"])


def test_completed_run_returns_result_without_training(uninterrupted):
    folder, state_a, first = uninterrupted
    calls = []
    torch.manual_seed(1)  # another init: must be replaced by the best weights
    model = build_patch_classifier("resnet50")
    again = fit(
        model,
        data(24, 0),
        data(10, 1),
        schedule=SCHEDULE,
        top_blocks=["layer4"],
        batch_size=8,
        mean=100.0,
        augment_cfg=AugmentConfig(),
        seed=3,
        device="cpu",
        checkpoint_dir=folder,
        on_epoch=calls.append,
        config={"arch": "resnet50"},
    )
    assert calls == []
    assert again.history == first.history and again.best_epoch == first.best_epoch
    assert_same_state(state_a, model.state_dict())
    assert ckpt.load(folder / "last.pt")["completed"]


def test_checkpoint_of_another_config_is_refused(tmp_path):
    run(tmp_path, max_epochs=1, schedule=[Stage("head", 2, 1e-3, "head")])
    with pytest.raises(ckpt.CheckpointConfigError, match="schedule"):
        run(tmp_path, schedule=[Stage("head", 3, 1e-3, "head")])
    with pytest.raises(ckpt.CheckpointConfigError, match="arch"):
        run(tmp_path, schedule=[Stage("head", 2, 1e-3, "head")], arch="vgg16")
