import logging
import random
import re

import numpy as np
import torch

from e2e_mammo.training import checkpoint as ckpt


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


def test_identity_changes_with_content_of_the_same_size(tmp_path):
    f = tmp_path / "train.npy"
    f.write_bytes(b"\x00" * 64)
    first = ckpt.identity_hash([f], {"lr": 1e-3})
    f.write_bytes(b"\x01" * 64)
    assert ckpt.identity_hash([f], {"lr": 1e-3}) != first


def test_identity_changes_with_settings(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("x")
    assert ckpt.identity_hash([f], {"lr": 1e-3}) != ckpt.identity_hash([f], {"lr": 1e-4})


def _write(folder, identity, completed):
    folder.mkdir(parents=True, exist_ok=True)
    state = {"format": ckpt.FORMAT_VERSION, "identity": identity, "completed": completed}
    ckpt.save_atomic(state, folder / ckpt.FILE)


def test_prepare_resumes_an_interrupted_run_of_the_same_identity(tmp_path):
    _write(tmp_path / "c", "id", completed=False)
    assert ckpt.prepare(tmp_path / "c", "id") == "resume"
    assert (tmp_path / "c" / ckpt.FILE).is_file()


def test_prepare_starts_afresh_after_a_finished_run(tmp_path):
    _write(tmp_path / "c", "id", completed=True)
    assert ckpt.prepare(tmp_path / "c", "id") == "fresh"
    assert list((tmp_path / "c").iterdir()) == []


def test_prepare_starts_afresh_on_other_inputs(tmp_path):
    _write(tmp_path / "c", "old", completed=False)
    assert ckpt.prepare(tmp_path / "c", "new") == "fresh"
    assert list((tmp_path / "c").iterdir()) == []


def test_prepare_moves_an_unreadable_checkpoint_aside_and_starts_afresh(tmp_path, caplog):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / ckpt.FILE).write_bytes(b"truncated")
    assert ckpt.prepare(tmp_path / "c", "id") == "fresh"
    assert list((tmp_path / "c").iterdir()) == []
    (aside,) = tmp_path.glob("c.unreadable-*")
    assert re.fullmatch(r"c\.unreadable-\d{8}T\d{6}Z", aside.name)
    assert (aside / ckpt.FILE).read_bytes() == b"truncated"  # kept, byte for byte
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(tmp_path / "c" / ckpt.FILE) in record.getMessage()
    assert str(aside) in record.getMessage()
    (tmp_path / "c" / ckpt.FILE).write_bytes(b"again")  # a second one, the same second
    ckpt.prepare(tmp_path / "c", "id")
    assert len(list(tmp_path.glob("c.unreadable-*"))) == 2
