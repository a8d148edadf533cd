"""Tests for the S1/S10 patch sampler on tiny synthetic mammograms."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import read_exclusions
from e2e_mammo.preprocess.patches import (
    CLASS_NAMES,
    breast_mask,
    class_of,
    extract_patch_set,
    scaled_patch_size,
)

ROWS, COLS, P = 128, 96, 24


@dataclass
class Roi:
    abnormality_id: str
    mask: np.ndarray
    abnormality_type: str = "mass"
    pathology: str = "MALIGNANT"


@dataclass
class Img:
    image_id: str
    split: str | None = "train"
    rois: list[Roi] = field(default_factory=list)
    patient_id: str = ""


def _square(y: int, x: int, side: int) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    mask[y : y + side, x : x + side] = 255
    return mask


def _disc(cy: int, cx: int, radius: int) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.circle(mask, (cx, cy), radius, 255, thickness=-1)
    return mask


def _ring(cy: int, cx: int, radius: int) -> np.ndarray:
    mask = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.circle(mask, (cx, cy), radius, 255, thickness=1)
    return mask


def _breast_image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 400, size=(ROWS, COLS)).astype(np.uint16)
    breast = np.zeros((ROWS, COLS), dtype=np.uint8)
    cv2.ellipse(breast, (30, ROWS // 2), (62, 60), 0, 0, 360, 255, thickness=-1)
    tissue = rng.integers(20000, 40000, size=(ROWS, COLS)).astype(np.uint16)
    image[breast > 0] = tissue[breast > 0]
    return image


def _write(tmp_path: Path, images: list[Img]) -> tuple[Path, Path, Path]:
    (tmp_path / "png").mkdir(exist_ok=True)
    man, msk, spl = [], [], []
    for n, img in enumerate(images):
        png = tmp_path / "png" / f"{img.image_id}.png"
        cv2.imwrite(str(png), _breast_image(n))
        patient = img.patient_id or f"P{n}"
        man.append(
            {
                "image_id": img.image_id,
                "patient_id": patient,
                "label": 0,
                "png_path": str(png),
                "rows": ROWS,
                "cols": COLS,
            }
        )
        if img.split is not None:
            spl.append(
                {"image_id": img.image_id, "patient_id": patient, "split": img.split, "label": 0}
            )
        for roi in img.rois:
            path = tmp_path / "png" / f"{img.image_id}_{roi.abnormality_id}_mask.png"
            cv2.imwrite(str(path), roi.mask)
            msk.append(
                {
                    "image_id": img.image_id,
                    "abnormality_id": roi.abnormality_id,
                    "abnormality_type": roi.abnormality_type,
                    "pathology": roi.pathology,
                    "mask_png_path": str(path),
                }
            )
    paths = tmp_path / "manifest.csv", tmp_path / "masks.csv", tmp_path / "splits.csv"
    pd.DataFrame(man).to_csv(paths[0], index=False)
    pd.DataFrame(
        msk,
        columns=["image_id", "abnormality_id", "abnormality_type", "pathology", "mask_png_path"],
    ).to_csv(paths[1], index=False)
    pd.DataFrame(spl, columns=["image_id", "patient_id", "split", "label"]).to_csv(
        paths[2], index=False
    )
    return paths


def _run(tmp_path: Path, images: list[Img], name: str = "S10", out: str = "out", **kwargs):
    manifest, masks, splits = _write(tmp_path, images)
    n = 1 if name == "S1" else 10
    options = {"patch_size": P, "n_roi": n, "n_background": n, "progress": False} | kwargs
    result = extract_patch_set(manifest, masks, splits, tmp_path / out, patch_set=name, **options)
    return result, tmp_path / out


def _mask_of(images: list[Img], image_id: str, abnormality_id: str) -> np.ndarray:
    img = next(i for i in images if i.image_id == image_id)
    return next(r.mask for r in img.rois if r.abnormality_id == abnormality_id) > 0


def _box(mask: np.ndarray, row: pd.Series) -> np.ndarray:
    return mask[row["y0"] : row["y1"], row["x0"] : row["x1"]]


def _ratio(mask: np.ndarray, row: pd.Series) -> float:
    inter = float(np.count_nonzero(_box(mask, row)))
    return max(inter / (P * P), inter / np.count_nonzero(mask))


# --------------------------------------------------------------------------------------------


def test_scaled_patch_size() -> None:
    assert scaled_patch_size(224, 1152) == 224
    assert scaled_patch_size(224, 256) == 50
    assert scaled_patch_size(224, 576) == 112


def test_s1_roi_patch_centred_on_mask_centroid(tmp_path: Path) -> None:
    images = [
        Img("a", rois=[Roi("1", _disc(60, 40, 6))]),
        Img("b", rois=[Roi("1", _square(50, 30, 9))]),
    ]
    result, _ = _run(tmp_path, images, name="S1")
    roi_rows = result.index[result.index["class"] > 0]
    assert len(roi_rows) == 2
    for _, row in roi_rows.iterrows():
        ys, xs = np.nonzero(_mask_of(images, row["image_id"], row["abnormality_id"]))
        assert not row["clamped"]
        assert abs(row["y0"] + (P - 1) / 2 - ys.mean()) <= 1
        assert abs(row["x0"] + (P - 1) / 2 - xs.mean()) <= 1
        assert row["y1"] - row["y0"] == P and row["x1"] - row["x0"] == P


def test_s1_patch_at_border_is_clamped_inside_image(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(2, 85, 8))])]
    result, _ = _run(tmp_path, images, name="S1")
    row = result.index[result.index["class"] > 0].iloc[0]
    assert row["clamped"]
    assert row["y0"] == 0 and row["x1"] == COLS


def test_s10_gives_ten_distinct_patches_with_overlap(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(50, 40, 16))])]
    result, _ = _run(tmp_path, images)
    rows = result.index[result.index["class"] > 0]
    assert len(rows) == 10
    assert len(set(zip(rows["y0"], rows["x0"], strict=True))) == 10
    mask = _mask_of(images, "a", "1")
    for _, row in rows.iterrows():
        assert row["threshold"] == pytest.approx(0.9)
        assert row["overlap"] >= 0.9
        assert _ratio(mask, row) == pytest.approx(row["overlap"], abs=1e-6)


def test_background_patches_avoid_every_roi(tmp_path: Path) -> None:
    first, second = _square(10, 30, 14), _disc(110, 40, 7)
    images = [Img("a", rois=[Roi("1", first), Roi("2", second, "calcification", "BENIGN")])]
    result, _ = _run(tmp_path, images)
    background = result.index[result.index["class"] == 0]
    assert len(background) == 20  # 10 per ROI
    union = (first > 0) | (second > 0)
    for _, row in background.iterrows():
        assert not _box(union, row).any()
        assert row["abnormality_id"] == ""


def test_background_breast_fraction_meets_threshold(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(60, 40, 10))])]
    result, _ = _run(tmp_path, images, min_breast_fraction=0.75)
    breast = breast_mask(_breast_image(0)) > 0
    background = result.index[result.index["class"] == 0]
    assert len(background) == 10
    for _, row in background.iterrows():
        fraction = np.count_nonzero(_box(breast, row)) / (P * P)
        assert row["threshold"] == pytest.approx(0.75)
        assert fraction >= row["threshold"]
        assert fraction == pytest.approx(row["overlap"], abs=1e-6)


def test_class_mapping() -> None:
    assert class_of("mass", "MALIGNANT") == 1
    assert class_of("mass", "BENIGN") == 2
    assert class_of("mass", "BENIGN_WITHOUT_CALLBACK") == 2
    assert class_of("calcification", "MALIGNANT") == 3
    assert class_of("calcification", "BENIGN_WITHOUT_CALLBACK") == 4
    assert class_of("architecture", "MALIGNANT") is None
    assert class_of("mass", "UNPROVEN") is None
    assert CLASS_NAMES[0] == "background"


def test_class_mapping_in_outputs_and_unknown_pathology_excluded(tmp_path: Path) -> None:
    images = [
        Img("m", rois=[Roi("1", _square(30, 30, 10), "mass", "MALIGNANT")]),
        Img("b", rois=[Roi("1", _square(30, 30, 10), "mass", "BENIGN_WITHOUT_CALLBACK")]),
        Img("c", rois=[Roi("1", _square(30, 30, 10), "calcification", "MALIGNANT")]),
        Img("d", rois=[Roi("1", _square(30, 30, 10), "calcification", "BENIGN")]),
        Img("u", rois=[Roi("1", _square(30, 30, 10), "mass", "UNKNOWN")]),
    ]
    result, _ = _run(tmp_path, images, name="S1")
    rois = result.index[result.index["class"] > 0].set_index("image_id")
    assert rois.loc[["m", "b", "c", "d"], "class"].tolist() == [1, 2, 3, 4]
    assert rois.loc["b", "class_name"] == "benign_mass"
    assert "u" not in rois.index
    assert any(e.item == "u/1" and "UNKNOWN" in e.reason for e in result.exclusions)


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


def test_same_seed_same_output_other_seed_differs(tmp_path: Path) -> None:
    images = [Img("a", rois=[Roi("1", _square(50, 40, 16)), Roi("2", _disc(100, 30, 5))])]
    first, out1 = _run(tmp_path, images, out="o1", seed=3)
    again, out2 = _run(tmp_path, images, out="o2", seed=3)
    other, _ = _run(tmp_path, images, out="o3", seed=4)
    np.testing.assert_array_equal(np.load(out1 / "train.npy"), np.load(out2 / "train.npy"))
    pd.testing.assert_frame_equal(first.index, again.index)
    boxes = ["y0", "x0"]
    assert not first.index[boxes].equals(other.index[boxes])


def test_array_rows_equal_image_crops(tmp_path: Path) -> None:
    images = [
        Img("a", rois=[Roi("1", _square(50, 40, 16))]),
        Img("b", split="val", rois=[Roi("1", _square(2, 80, 10))]),
    ]
    _, out = _run(tmp_path, images)
    for split in ("train", "val"):
        array = np.load(out / f"{split}.npy")
        index = pd.read_csv(out / f"{split}.csv", keep_default_na=False)
        assert array.dtype == np.uint16 and len(array) == len(index) == 20
        for _, row in index.iterrows():
            image = cv2.imread(str(tmp_path / "png" / f"{row['image_id']}.png"), -1)
            crop = image[row["y0"] : row["y1"], row["x0"] : row["x1"]]
            np.testing.assert_array_equal(array[row["patch_index"]], crop)


def test_relaxation_recorded_for_large_sparse_roi(tmp_path: Path) -> None:
    # A thin ring far larger than the patch: no box holds 90% of it nor is 90% lesion.
    images = [Img("a", rois=[Roi("1", _ring(64, 48, 40), "calcification", "BENIGN")])]
    result, _ = _run(tmp_path, images)
    rows = result.index[result.index["class"] > 0]
    assert len(rows) == 10
    assert (rows["threshold"] < 0.9).all()
    assert (rows["overlap"] >= rows["threshold"] - 1e-6).all()
    assert len(set(zip(rows["y0"], rows["x0"], strict=True))) == 10


def test_large_solid_roi_needs_no_relaxation(tmp_path: Path) -> None:
    # OR rule: a box lying inside a large solid ROI is 100% lesion.
    images = [Img("a", rois=[Roi("1", _square(30, 20, 60))])]
    result, _ = _run(tmp_path, images)
    rows = result.index[result.index["class"] > 0]
    assert len(rows) == 10 and np.allclose(rows["threshold"], 0.9)


def test_background_shortfall_is_an_exclusion(tmp_path: Path) -> None:
    everywhere = np.full((ROWS, COLS), 255, dtype=np.uint8)  # no box avoids the ROI
    images = [Img("a", rois=[Roi("1", everywhere)])]
    result, out = _run(tmp_path, images, name="S1")
    assert (result.index["class"] == 0).sum() == 0
    items = {e.item for e in read_exclusions(out / "exclusions.csv")}
    assert "a/background_0" in items


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
        extract_patch_set(
            manifest, masks, splits, tmp_path / "o", patch_set="S1", patch_size=P, n_roi=1,
            n_background=1, progress=False,
        )  # fmt: skip
    assert str(masks) in str(info.value)


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
