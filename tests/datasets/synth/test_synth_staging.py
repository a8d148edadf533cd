"""Staging a synthetic tree: complete or absent, and only its own folders replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_mammo.datasets.inbreast.synthetic import synth_inbreast
from e2e_mammo.datasets.synth.staging import MARKER, is_synthetic_tree, staged_output
from e2e_mammo.errors import OutputError


def _build(out: Path, text: str) -> None:
    with staged_output(out) as root:
        (root / "data.txt").write_text(text)


def test_a_built_tree_carries_the_marker_and_is_rebuilt(tmp_path: Path) -> None:
    _build(tmp_path / "synth", "first")
    assert is_synthetic_tree(tmp_path / "synth")
    _build(tmp_path / "synth", "second")
    assert (tmp_path / "synth" / "data.txt").read_text() == "second"
    assert sorted(p.name for p in (tmp_path / "synth").iterdir()) == [MARKER, "data.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_a_folder_without_the_marker_is_refused_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "CBIS-DDSM-download"
    (real / "CBIS-DDSM").mkdir(parents=True)
    (real / "metadata.csv").write_text("patient scans")
    with pytest.raises(OutputError) as err:
        synth_inbreast(real, n_patients=1, image_size=(64, 52))
    assert err.value.path == str(real)
    assert "nothing was deleted" in str(err.value) and "remove it by hand" in str(err.value)
    assert (real / "metadata.csv").read_text() == "patient scans"
    assert (real / "CBIS-DDSM").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [real.name]  # no staging folder left


def test_a_leftover_staging_folder_without_the_marker_is_refused(tmp_path: Path) -> None:
    partial = tmp_path / ".synth.partial"
    partial.mkdir()
    (partial / "keep.txt").write_text("not ours")
    with pytest.raises(OutputError, match=r"\.synth\.partial"):
        _build(tmp_path / "synth", "x")
    assert (partial / "keep.txt").read_text() == "not ours"


def test_an_empty_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "synth").mkdir()
    _build(tmp_path / "synth", "x")
    assert is_synthetic_tree(tmp_path / "synth")
