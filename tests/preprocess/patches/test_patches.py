"""The patch-set stage (``extract_patch_set``): inputs, splits, exclusions and output tables.

The sampling rules, the per-image plan and the cutting have their own test modules
(``test_patches_sampling.py``, ``test_patches_plan.py``, ``test_patches_cutting.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.patch_cases import Img, P, Roi
from helpers.patch_cases import disc as _disc
from helpers.patch_cases import run_patch_set as _run
from helpers.patch_cases import square as _square
from helpers.patch_cases import write_inputs as _write

import e2e_mammo.preprocess.patches.stage as stage
from e2e_mammo.data.patch_arrays import load_patch_split
from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import read_exclusions
from e2e_mammo.preprocess.patches import CLASS_NAMES, SamplingOptions, extract_patch_set

S1 = SamplingOptions(patch_size=P, n_roi=1, n_background=1)


def test_patches_of_a_split_come_only_from_its_images(tmp_path: Path) -> None:
    images = [
        Img(f"i{k}", split=split, rois=[Roi("1", _square(40, 30, 12))])
        for k, split in enumerate(["train", "train", "val", "test", "test"])
    ]
    _, out = _run(tmp_path, images, name="S1")
    for split in ("train", "val", "test"):
        index = pd.read_csv(out / f"{split}.csv")
        expected = {i.image_id for i in images if i.split == split}
        assert set(index["image_id"]) == expected
        assert (index["split"] == split).all()
        assert np.load(out / f"{split}.npy").shape == (len(index), P, P)


def test_split_without_images_gets_empty_files(tmp_path: Path) -> None:
    images = [Img("a", split="train", rois=[Roi("1", _square(40, 30, 12))])]
    _, out = _run(tmp_path, images, name="S1")
    assert np.load(out / "val.npy").shape == (0, P, P)
    assert len(pd.read_csv(out / "val.csv")) == 0


def test_image_not_in_splits_is_excluded(tmp_path: Path) -> None:
    images = [
        Img("kept", rois=[Roi("1", _square(40, 30, 12))]),
        Img("orphan", split=None, rois=[Roi("1", _square(40, 30, 12))]),
    ]
    result, out = _run(tmp_path, images, name="S1")
    assert "orphan" not in set(result.index["image_id"])
    exclusions = read_exclusions(out / "exclusions.csv")
    assert [e.item for e in exclusions] == ["orphan"]
    assert exclusions[0].stage == "patches" and "splits" in exclusions[0].reason


def test_missing_column_raises_dataset_error(tmp_path: Path) -> None:
    manifest, masks, splits = _write(tmp_path, [Img("a", rois=[Roi("1", _square(4, 4, 8))])])
    pd.read_csv(masks).drop(columns="pathology").to_csv(masks, index=False)
    with pytest.raises(DatasetError, match="pathology") as info:
        extract_patch_set(manifest, masks, splits, tmp_path / "o", "S1", S1, progress=False)
    assert str(masks) in str(info.value)


def test_split_name_must_be_a_plain_word(tmp_path: Path) -> None:
    manifest, masks, splits = _write(tmp_path, [Img("a", split="../x")])
    with pytest.raises(DatasetError, match="not a plain word"):
        extract_patch_set(manifest, masks, splits, tmp_path / "o", "S1", S1, progress=False)


def test_counts_csv_matches_index(tmp_path: Path) -> None:
    images = [
        Img(
            "a", rois=[Roi("1", _square(20, 30, 12)), Roi("2", _disc(100, 40, 5), "calcification")]
        ),
        Img("b", split="test", rois=[Roi("1", _square(60, 30, 12), pathology="BENIGN")]),
    ]
    result, out = _run(tmp_path, images, name="S1")
    counts = pd.read_csv(out / "counts.csv")
    index = pd.read_csv(out / "index.csv")
    assert set(counts["class"]) == set(CLASS_NAMES)
    observed = index.groupby(["split", "class"]).size()
    for _, row in counts.iterrows():
        assert row["count"] == observed.get((row["split"], row["class"]), 0)
        assert row["class_name"] == CLASS_NAMES[row["class"]]
    assert counts["count"].sum() == len(index) == 6
    pd.testing.assert_frame_equal(counts, result.counts)


def test_interrupted_rerun_leaves_no_counts_csv(tmp_path: Path, monkeypatch) -> None:
    images = [Img("a", rois=[Roi("1", _square(40, 30, 12))])]
    _, out = _run(tmp_path, images, name="S1")
    assert (out / "counts.csv").is_file()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stage, "write_split_array", killed)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, images, name="S1")
    assert not (out / "counts.csv").exists()


def test_progress_lines_name_the_patch_set_and_pass(tmp_path: Path, capsys) -> None:
    images = [Img("a", rois=[Roi("1", _square(40, 30, 12))])]
    _run(tmp_path, images, name="S1", progress=True)
    err = capsys.readouterr().err
    assert "patches S1 plan: 1/1 (100%)" in err and "patches S1 cut: 1/1 (100%)" in err
    assert "patches S1: 2 patch(es) in 3 split(s), 0 exclusion(s)" in err


def test_patch_tables_are_spreadsheet_safe_and_load_back_intact(tmp_path: Path) -> None:
    images = [Img(i, rois=[Roi("1", _square(40, 30, 12))]) for i in ("=1+1", "-abc")]
    _, out = _run(tmp_path, images, name="S1")
    for name in ("train.csv", "index.csv"):
        text = (out / name).read_text()
        assert "'=1+1" in text and "'-abc" in text
    _, index = load_patch_split(out, "train")
    assert set(index["image_id"]) == {"=1+1", "-abc"}
