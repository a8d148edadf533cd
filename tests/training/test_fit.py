import pytest
import torch
from helpers.toy import tiny_classifier, toy_loaders

from e2e_mammo.data.augment import AugmentConfig
from e2e_mammo.plan.schedules import Stage
from e2e_mammo.training import checkpoint as ckpt
from e2e_mammo.training.fit import Extension, FitConfig, FitRun, _extend, _RunState, fit

SCHEDULE = (Stage("head", 1, 1e-3, "head"), Stage("top", 2, 1e-4, "top"))


@pytest.fixture(scope="module", autouse=True)
def deterministic():
    threads = torch.get_num_threads()
    was = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(was)
    torch.set_num_threads(threads)


def run(folder, stop_after=None, on_epoch=None, checkpoint_interval_s=0.0, **overrides):
    torch.manual_seed(0)
    model = tiny_classifier()
    cfg = FitConfig(
        **{
            "schedule": SCHEDULE,
            "top_blocks": ("layer4",),
            "seed": 3,
            "augment": AugmentConfig(),
            **overrides,
        }
    )
    train, val = toy_loaders()
    result = fit(
        model,
        train,
        val,
        cfg,
        FitRun(
            checkpoint_dir=folder,
            identity="toy",
            device="cpu",
            on_epoch=on_epoch,
            stop_after=stop_after,
            checkpoint_interval_s=checkpoint_interval_s,
        ),
    )
    return model, result


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    model, result = run(folder)
    return folder, model.state_dict(), result


def test_history_best_epoch_and_on_epoch(tmp_path):
    records = []
    _, result = run(tmp_path, on_epoch=records.append)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert [r["stage"] for r in result.history] == ["head", "top", "top"]
    assert records == result.history
    accs = [r["val_accuracy"] for r in result.history]
    assert result.best_score == max(accs) and result.best_epoch == accs.index(max(accs)) + 1


@pytest.mark.parametrize("killed_after", [1, 2])  # at a stage boundary / inside a stage
def test_killed_run_resumes_to_the_same_result(tmp_path, uninterrupted, killed_after):
    _, state_a, res_a = uninterrupted
    _, partial = run(tmp_path, stop_after=killed_after)
    assert not partial.completed and len(partial.history) == killed_after
    saved = ckpt.load(tmp_path / ckpt.FILE)
    assert saved["epoch"] == killed_after and not saved["completed"]
    model_b, res_b = run(tmp_path)
    assert res_b.history == res_a.history
    assert (res_b.best_epoch, res_b.best_score) == (res_a.best_epoch, res_a.best_score)
    assert_same_state(state_a, model_b.state_dict())


def test_resume_without_a_checkpoint_in_the_interval_gives_the_same_result(tmp_path, uninterrupted):
    _, state_a, res_a = uninterrupted
    _, partial = run(tmp_path, stop_after=2, checkpoint_interval_s=1e9)
    assert not (tmp_path / ckpt.FILE).exists() and len(partial.history) == 2
    model_b, res_b = run(tmp_path)
    assert res_b.history == res_a.history
    assert_same_state(state_a, model_b.state_dict())


def test_best_and_last_are_one_file_that_agrees_after_every_epoch(tmp_path):
    states, checks = {}, []
    model_holder = {}

    def on_epoch(record):
        saved = ckpt.load(tmp_path / ckpt.FILE)
        states[record["epoch"]] = saved["model"]
        checks.append((saved["best_epoch"], saved["best_model"]))

    model_holder["m"], _ = run(tmp_path, on_epoch=on_epoch)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.FILE]
    for best_epoch, best_model in checks:
        assert_same_state(best_model, states[best_epoch])


def test_val_auc_monitor_keeps_the_epoch_of_the_highest_auc(tmp_path):
    _, result = run(tmp_path, monitor="val_auc")
    aucs = [r["val_auc"] for r in result.history]
    assert result.best_epoch == aucs.index(max(aucs)) + 1


def test_last_monitor_keeps_the_last_epoch(tmp_path):
    _, result = run(tmp_path, monitor="last")
    assert result.best_epoch == 3


def test_extension_adds_epochs_and_keeps_the_finished_prefix(tmp_path, uninterrupted):
    _, _, base = uninterrupted
    ext = Extension(step=1, max_extra=2, patience=10)  # never looks converged
    _, result = run(tmp_path, extension=ext)
    assert result.epochs == 5 and [r["epoch"] for r in result.history] == [1, 2, 3, 4, 5]
    assert [r["stage"] for r in result.history][3:] == ["top", "top"]
    assert result.history[:3] == base.history  # the schedule's epochs are the same run


def test_extension_stops_when_the_best_epoch_is_old():
    state = _RunState(schedule=[Stage("all", 3, 1e-3, "all")], epoch=3, best_epoch=1)
    assert not _extend(state, Extension(step=2, max_extra=4, patience=2), base_epochs=3)
    state.best_epoch = 2  # within the last 2 epochs: not converged
    assert _extend(state, Extension(step=2, max_extra=4, patience=2), base_epochs=3)
    assert state.schedule[0].epochs == 5


def test_extension_never_exceeds_max_extra():
    state = _RunState(schedule=[Stage("all", 6, 1e-3, "all")], epoch=6, best_epoch=6)
    assert _extend(state, Extension(step=5, max_extra=4, patience=1), base_epochs=3)
    assert state.schedule[0].epochs == 7
    state.epoch, state.best_epoch = 7, 7
    assert not _extend(state, Extension(step=5, max_extra=4, patience=1), base_epochs=3)


def test_checkpoint_of_another_identity_is_refused(tmp_path):
    run(tmp_path, stop_after=1)
    torch.manual_seed(0)
    train, val = toy_loaders()
    cfg = FitConfig(schedule=SCHEDULE, top_blocks=("layer4",))
    with pytest.raises(ckpt.CheckpointConfigError, match="another"):
        fit(
            tiny_classifier(),
            train,
            val,
            cfg,
            FitRun(checkpoint_dir=tmp_path, identity="other", device="cpu"),
        )


def test_extension_with_the_last_epoch_monitor_is_refused():
    with pytest.raises(ValueError, match="last"):
        FitConfig(schedule=SCHEDULE, monitor="last", extension=Extension(1, 2, 1))


def test_run_without_any_score_keeps_the_last_epoch(tmp_path, monkeypatch):
    import sys

    fit_module = sys.modules["e2e_mammo.training.fit"]  # the package exports fit() by that name
    monkeypatch.setattr(fit_module, "monitor_score", lambda name, record: float("nan"))
    model, result = run(tmp_path)
    saved = ckpt.load(tmp_path / ckpt.FILE)
    assert result.best_epoch == 3 and result.best_score != result.best_score  # nan
    assert_same_state(saved["model"], model.state_dict())


def test_last_monitor_trains_without_a_validation_loader(tmp_path):
    torch.manual_seed(0)
    model = tiny_classifier()
    cfg = FitConfig(schedule=SCHEDULE[:1], monitor="last", seed=3, augment=AugmentConfig())
    train, _ = toy_loaders()
    result = fit(
        model, train, None, cfg, FitRun(checkpoint_dir=tmp_path, identity="t", device="cpu")
    )
    (record,) = result.history
    assert result.best_epoch == 1 and record["train_loss"] > 0
    assert all(record[k] != record[k] for k in ("val_loss", "val_accuracy", "val_auc"))  # nan


def test_a_monitor_that_scores_needs_a_validation_loader(tmp_path):
    cfg = FitConfig(schedule=SCHEDULE[:1], monitor="val_auc")
    train, _ = toy_loaders()
    model = tiny_classifier()
    with pytest.raises(ValueError, match="needs a validation loader"):
        fit(model, train, None, cfg, FitRun(checkpoint_dir=tmp_path, identity="t", device="cpu"))


@pytest.mark.parametrize(
    ("cpu_channels_last", "device", "expected"),
    [(False, "cpu", False), (True, "cpu", True), (False, "cuda", True)],
)
def test_channels_last_on_cuda_and_on_cpu_only_when_asked(cpu_channels_last, device, expected):
    cfg = FitConfig(schedule=SCHEDULE, cpu_channels_last=cpu_channels_last)
    assert cfg.uses_channels_last(device) is expected
    assert cfg.epoch_settings(device).channels_last is expected


def test_a_cpu_channels_last_run_keeps_its_weights_channels_last(tmp_path):
    model, _ = run(tmp_path, cpu_channels_last=True)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
