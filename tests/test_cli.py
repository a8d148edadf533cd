"""Tests for the e2e-mammo command line: the verbs run the stage functions, errors exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from e2e_mammo.cli import main


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli")
    assert (
        main(["synth", "cbis-ddsm", str(base / "root"), "--patients", "4", "--size", "160x100"])
        == 0
    )
    assert main(["index", "cbis-ddsm", str(base / "root"), "--out", str(base / "index")]) == 0
    return base


def test_synth_and_index_write_tables(indexed: Path) -> None:
    images = pd.read_csv(indexed / "index" / "images.csv")
    assert len(images) > 0 and set(images["label"]) <= {0, 1}


def test_convert_and_split_chain(indexed: Path) -> None:
    out = indexed / "converted"
    assert (
        main(
            [
                "convert",
                str(indexed / "index" / "images.csv"),
                "--rois",
                str(indexed / "index" / "rois.csv"),
                "--out",
                str(out),
                "--size",
                "64x48",
            ]
        )
        == 0
    )
    assert main(["split", str(out / "manifest.csv"), "--out", str(indexed / "splits")]) == 0
    splits = pd.read_csv(indexed / "splits" / "splits.csv")
    assert len(splits) == len(pd.read_csv(out / "manifest.csv"))


def test_bad_root_exits_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["index", "inbreast", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "nothing" in err


def test_bad_size_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["convert", "x.csv", "--out", str(tmp_path), "--size", "big"])
