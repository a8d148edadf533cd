import os
from pathlib import Path

import pytest

from e2e_mammo.io import (
    atomic_path,
    atomic_write_csv,
    atomic_write_json,
    escape_cell,
    file_sha256,
    read_table,
)


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


@pytest.mark.parametrize("cell", ["=1+2", "+cmd|' /C calc'!A0", "-x", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_escaped_with_a_quote(cell):
    assert escape_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-0.5", "+3", "P_00001", "", "a=b"])
def test_numbers_and_plain_text_are_left_alone(cell):
    assert escape_cell(cell) == cell


def test_a_safe_csv_reads_back_exactly_through_read_table(tmp_path: Path):
    import pandas as pd

    cells = ['=HYPERLINK("x")', "'quoted", "-abc", "-1.5", "plain", "@a"]
    atomic_write_csv(pd.DataFrame({"id": cells}), tmp_path / "t.csv", safe=True)
    raw = (tmp_path / "t.csv").read_text().splitlines()[1:]
    assert not any(line.lstrip('"').startswith(("=", "@")) for line in raw)
    assert read_table(tmp_path / "t.csv")["id"].tolist() == cells
