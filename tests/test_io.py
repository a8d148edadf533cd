import os
from pathlib import Path

import pytest

from e2e_mammo.io import atomic_path, atomic_write_json, file_sha256


def test_atomic_path_renames_on_success(tmp_path: Path):
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("done")
        assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "a.txt").read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_atomic_files_get_the_usual_permissions(tmp_path: Path):
    atomic_write_json({"a": 1}, tmp_path / "a.json")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_file_sha256_changes_with_content(tmp_path: Path):
    path = tmp_path / "m.csv"
    path.write_text("a")
    first = file_sha256(path)
    path.write_text("b")
    assert file_sha256(path) != first and len(first) == 64
