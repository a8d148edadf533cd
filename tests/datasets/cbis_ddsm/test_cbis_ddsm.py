"""Indexing CBIS-DDSM downloads: real CSV excerpts (tests/reference) over tiny real-layout trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.dicom_trees import (
    CBIS_CSV_DIR,
    CBIS_CSV_NAMES,
    CROPPED_DESCRIBED_MASK,
    MASK_SIZE_MISMATCH,
    build_cbis_tree,
    link_cbis_tree,
    read_cbis_rows,
    view_of,
)

from e2e_mammo.datasets.cbis_ddsm.descriptions import (
    IMAGE_COLUMNS,
    ROI_COLUMNS,
    aggregate_images,
    read_description_csvs,
)
from e2e_mammo.datasets.cbis_ddsm.index import index_cbis_ddsm
from e2e_mammo.datasets.cbis_ddsm.listings import merge_listings, plan_listings
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import read_exclusions

REAL_CSV_DIR = Path("/work/shared/cbis-ddsm-csv")
EXCERPT_ROWS = {
    "mass_case_description_train_set.csv": 28,
    "mass_case_description_test_set.csv": 19,
    "calc_case_description_train_set.csv": 24,
    "calc_case_description_test_set.csv": 16,
}
#: the views of the excerpts listed under both a Mass- and a Calc- SubjectID: dropped -> kept
DUPLICATES = {
    "Calc-Training_P_00016_LEFT_CC": "Mass-Test_P_00016_LEFT_CC",
    "Calc-Training_P_00016_LEFT_MLO": "Mass-Test_P_00016_LEFT_MLO",
    "Mass-Training_P_00041_LEFT_CC": "Calc-Test_P_00041_LEFT_CC",
    "Mass-Training_P_00041_LEFT_MLO": "Calc-Test_P_00041_LEFT_MLO",
    "Calc-Training_P_00510_LEFT_CC": "Mass-Test_P_00510_LEFT_CC",
    "Calc-Training_P_00710_RIGHT_CC": "Mass-Training_P_00710_RIGHT_CC",
}


def _reasons(result, item: str) -> list[str]:
    return [e.reason for e in result.exclusions if e.item == item]


@pytest.fixture(scope="module")
def descriptive(tmp_path_factory):
    """The excerpts as a descriptive-layout download without metadata.csv, indexed once."""
    base = tmp_path_factory.mktemp("cbis")
    tree = build_cbis_tree(base / "root", layout="descriptive")
    result = index_cbis_ddsm(base / "root", base / "out")
    return tree, result, base / "out"


@pytest.fixture
def small(tmp_path):
    """A fresh small tree (a few images) that a test may damage."""
    only = {
        "Mass-Training_P_00419_LEFT_CC",  # 2 ROIs, mixed malignant / benign
        "Mass-Training_P_00001_LEFT_CC",
        "Mass-Training_P_00041_LEFT_CC",  # BWC only
        "Calc-Test_P_00038_LEFT_CC",
    }
    return build_cbis_tree(tmp_path / "root", only=only), tmp_path


def _copy_csvs(dst: Path, names=CBIS_CSV_NAMES) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(CBIS_CSV_DIR / name, dst / name)


# ---------------------------------------------------------------------------------------------
# Description CSVs (no tree)
# ---------------------------------------------------------------------------------------------


def test_excerpts_parse_with_both_header_variants_and_stripped_paths():
    rows = read_description_csvs(CBIS_CSV_DIR)
    assert rows.groupby(rows["source"].map(lambda s: Path(s).name)).size().to_dict() == (
        EXCERPT_ROWS
    )
    # calc files spell "breast density" with a space: normalised to the same column
    calc = rows[rows["abnormality_type"] == "calcification"]
    assert calc["breast_density"].notna().all()
    for column in ("image_file_path", "cropped_image_file_path", "roi_mask_file_path"):
        assert not rows[column].str.contains("\n").any()
        assert rows[column].str.endswith(".dcm").all()
    assert set(rows["laterality"]) == {"L", "R"}
    assert rows["source_row"].min() == 1


def test_na_and_n_slash_a_both_mean_missing(tmp_path):
    _copy_csvs(tmp_path)
    name = "mass_case_description_train_set.csv"
    raw = (tmp_path / name).read_bytes()
    assert b",NA," in raw
    (tmp_path / name).write_bytes(raw.replace(b",NA,", b",N/A,"))
    with_na = read_description_csvs(CBIS_CSV_DIR)
    with_slash = read_description_csvs(tmp_path)
    p79 = with_slash["image_id"] == "Mass-Training_P_00079_RIGHT_CC"
    assert with_slash.loc[p79, "mass_margins"].isna().all()
    pd.testing.assert_series_equal(
        with_na["mass_margins"].isna(), with_slash["mass_margins"].isna(), check_names=False
    )


@pytest.mark.skipif(not REAL_CSV_DIR.is_dir(), reason="full real CSVs not available")
@pytest.mark.parametrize(
    ("name", "rows", "patients", "images", "malignant", "pathologies"),
    [
        ("mass_case_description_train_set.csv", 1318, 691, 1231, 602, (637, 577, 104)),
        ("mass_case_description_test_set.csv", 378, 201, 361, 145, (147, 194, 37)),
        ("calc_case_description_train_set.csv", 1546, 602, 1227, 509, (544, 528, 474)),
        ("calc_case_description_test_set.csv", 326, 151, 284, 119, (129, 130, 67)),
    ],
)
def test_full_real_csvs_match_published_counts(
    name, rows, patients, images, malignant, pathologies
):
    frame = read_description_csvs(REAL_CSV_DIR)
    part = frame[frame["source"].map(lambda s: Path(s).name) == name]
    agg = aggregate_images(part)
    counts = part["pathology"].value_counts()
    assert len(part) == rows
    assert part["patient_id"].nunique() == patients
    assert len(agg) == images
    assert int(agg["label"].sum()) == malignant
    assert (
        counts["MALIGNANT"],
        counts["BENIGN"],
        counts["BENIGN_WITHOUT_CALLBACK"],
    ) == pathologies


@pytest.mark.skipif(not REAL_CSV_DIR.is_dir(), reason="full real CSVs not available")
def test_full_real_csvs_combined_split_counts():
    agg = aggregate_images(read_description_csvs(REAL_CSV_DIR))
    by_split = agg.groupby("split")["label"].agg(["size", "sum"])
    assert by_split.loc["train"].tolist() == [2458, 1111]
    assert by_split.loc["test"].tolist() == [645, 264]
    assert agg["patient_id"].nunique() == 1566


@pytest.mark.skipif(not REAL_CSV_DIR.is_dir(), reason="full real CSVs not available")
@pytest.mark.parametrize(
    ("overlap", "train", "test"),
    [("test", (2391, 1080), (641, 267)), ("train", (2420, 1099), (612, 248))],
)
def test_full_real_csvs_one_image_per_view_on_its_official_side(overlap, train, test):
    rows = read_description_csvs(REAL_CSV_DIR)
    images = aggregate_images(merge_listings(rows, plan_listings(rows, overlap)))
    assert len(images) == 3032
    by_split = images.groupby("split")["label"].agg(["size", "sum"])
    assert tuple(by_split.loc["train"]) == train
    assert tuple(by_split.loc["test"]) == test


@pytest.mark.skipif(not REAL_CSV_DIR.is_dir(), reason="full real CSVs not available")
def test_full_real_csvs_index_3103_dicoms_into_3032_images_and_71_duplicates(tmp_path):
    assert link_cbis_tree(tmp_path / "root", REAL_CSV_DIR) == 3103
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out", csv_dir=REAL_CSV_DIR)
    assert len(result.images) == 3032
    assert result.images.groupby(["patient_id", "laterality", "view"]).size().max() == 1
    assert len(result.rois) == 3568
    assert len(result.exclusions) == 71
    assert all(e.reason.startswith("duplicate of ") for e in result.exclusions)


# ---------------------------------------------------------------------------------------------
# Views listed under both a Mass- and a Calc- SubjectID (no tree)
# ---------------------------------------------------------------------------------------------


def test_excerpt_listings_keep_one_subject_per_view():
    listings = plan_listings(read_description_csvs(CBIS_CSV_DIR))
    dropped = listings[listings["image_id"] != listings["kept_id"]]
    assert dict(zip(dropped["image_id"], dropped["kept_id"], strict=True)) == DUPLICATES
    assert (listings.groupby("view_id")["kept_id"].nunique() == 1).all()


def test_merged_excerpt_rows_give_one_labelled_image_per_view():
    rows = read_description_csvs(CBIS_CSV_DIR)
    images = aggregate_images(merge_listings(rows, plan_listings(rows))).set_index("image_id")
    assert len(images) == rows["image_id"].nunique() - len(DUPLICATES)
    assert images.loc["Mass-Training_P_00710_RIGHT_CC", ["label", "n_rois"]].tolist() == [1, 2]


def test_abnormality_id_taken_by_the_kept_listing_is_renumbered():
    listed = [("Mass-Training", "1"), ("Mass-Training", "3"), ("Calc-Training", "1")]
    listed += [("Calc-Training", "2")]
    rows = pd.DataFrame(
        {
            "image_id": [f"{prefix}_P_00001_LEFT_CC" for prefix, _ in listed],
            "abnormality_id": [aid for _, aid in listed],
            "split": "train",
            "source_row": range(1, 5),
        }
    )
    merged = merge_listings(rows, plan_listings(rows))
    assert set(merged["image_id"]) == {"Mass-Training_P_00001_LEFT_CC"}
    assert merged["abnormality_id"].tolist() == ["1", "3", "4", "2"]


def test_bad_row_in_one_listing_excludes_the_whole_view(tmp_path):
    only = {"Mass-Test_P_00016_LEFT_CC", "Calc-Training_P_00016_LEFT_CC"}
    build_cbis_tree(tmp_path / "root", only=only)
    csv_path = tmp_path / "root" / "calc_case_description_train_set.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace(b",MALIGNANT,", b",UNKNOWN,"))
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    assert result.images.empty
    (reason,) = _reasons(result, "Mass-Test_P_00016_LEFT_CC")
    assert "listed as Calc-Training_P_00016_LEFT_CC, the same view" in reason


# ---------------------------------------------------------------------------------------------
# Full index over the descriptive layout
# ---------------------------------------------------------------------------------------------


def _duplicates_only(exclusions) -> bool:
    return {e.item: e.reason.split(":")[0] for e in exclusions} == {
        dropped: f"duplicate of {kept}" for dropped, kept in DUPLICATES.items()
    }


def test_descriptive_layout_indexes_every_image_and_roi(descriptive):
    tree, result, _ = descriptive
    assert _duplicates_only(result.exclusions)
    assert sorted(result.images["image_id"]) == sorted(set(tree.images) - set(DUPLICATES))
    assert result.images["dicom_path"].tolist() == [
        str(tree.images[i]) for i in result.images["image_id"]
    ]
    assert len(result.rois) == len(tree.masks) == sum(EXCERPT_ROWS.values())


def test_tree_covers_all_descriptive_variants(descriptive):
    tree, _, _ = descriptive
    folders = {p.parent.parent.name for p in tree.images.values()}
    series = {p.parent.name for p in tree.images.values()}
    assert any("-DDSM-NA-" in f for f in folders)
    assert any("-DDSM-" in f and "-NA-" not in f for f in folders)
    assert any(s.startswith("1.000000-") for s in series)
    assert any(s.startswith("1-full") for s in series)


def test_mask_told_from_crop_by_content_at_1_1_and_1_2(descriptive):
    tree, result, _ = descriptive
    rois = result.rois.set_index("roi_id")
    positions = {tree.masks[r].name for r in tree.masks}
    assert {"1-1.dcm", "1-2.dcm"} <= positions
    for roi_id, mask in tree.masks.items():
        assert rois.loc[roi_id, "mask_path"] == str(mask)
        assert rois.loc[roi_id, "crop_path"] == str(tree.crops[roi_id])


def test_cropped_images_series_whose_1_1_is_the_mask(descriptive):
    tree, result, _ = descriptive
    roi = result.rois.set_index("roi_id").loc[CROPPED_DESCRIBED_MASK]
    assert "cropped images" in Path(roi["mask_path"]).parent.name
    assert Path(roi["mask_path"]).name in ("1-1.dcm", "000000.dcm")
    assert roi["crop_path"] == str(tree.crops[CROPPED_DESCRIBED_MASK])


def test_roi_in_two_one_file_series(descriptive):
    _, result, _ = descriptive
    roi = result.rois.set_index("roi_id").loc["Mass-Training_P_00059_LEFT_CC_1"]
    mask_dir, crop_dir = Path(roi["mask_path"]).parent, Path(roi["crop_path"]).parent
    assert mask_dir != crop_dir
    assert "ROI mask images" in mask_dir.name and "cropped images" in crop_dir.name
    assert mask_dir.parent != crop_dir.parent  # different studies too


def test_label_is_malignant_iff_any_roi_malignant(descriptive):
    tree, result, _ = descriptive
    images = result.images.set_index("image_id")
    assert {view_of(i): label for i, label in images["label"].items()} == tree.view_labels
    mixed = images.loc["Mass-Training_P_00419_LEFT_CC"]
    assert set(mixed["pathologies"].split(";")) == {"MALIGNANT", "BENIGN"}
    assert mixed["label"] == 1
    bwc = images.loc["Mass-Test_P_00114_LEFT_MLO"]
    assert bwc["pathologies"] == "BENIGN_WITHOUT_CALLBACK" and bwc["label"] == 0


def test_image_fields_from_csv(descriptive):
    _, result, _ = descriptive
    image = result.images.set_index("image_id").loc["Calc-Training_P_00008_LEFT_CC"]
    assert (image["patient_id"], image["laterality"], image["view"]) == ("P_00008", "L", "CC")
    assert image["split"] == "train" and image["dataset"] == "cbis-ddsm"
    assert image["abnormality_types"] == "calcification"
    assert image["n_rois"] == image["n_rois_indexed"] > 1
    assert result.images.set_index("image_id").loc["Mass-Test_P_00016_LEFT_CC", "split"] == "test"


def test_view_listed_under_mass_and_calc_is_one_image(descriptive):
    _, result, _ = descriptive
    per_view = result.images.groupby(["patient_id", "laterality", "view"]).size()
    assert per_view.max() == 1
    assert "Mass-Test_P_00016_LEFT_CC" in set(result.images["image_id"])
    assert "Calc-Training_P_00016_LEFT_CC" not in set(result.images["image_id"])


def test_dual_listed_view_holds_the_rois_of_both_listings(descriptive):
    _, result, _ = descriptive
    rois = result.rois[result.rois["image_id"] == "Mass-Test_P_00016_LEFT_CC"]
    assert set(rois["roi_id"]) == {"Mass-Test_P_00016_LEFT_CC_1", "Calc-Training_P_00016_LEFT_CC_2"}
    assert rois["abnormality_id"].is_unique
    image = result.images.set_index("image_id").loc["Mass-Test_P_00016_LEFT_CC"]
    assert image["n_rois"] == image["n_rois_indexed"] == 2
    assert image["abnormality_types"] == "calcification;mass"


def test_dual_listed_view_is_malignant_if_either_listing_is(descriptive):
    # P_00710 RIGHT CC: a benign mass (Mass-Training) and a malignant calcification (Calc-Training)
    _, result, _ = descriptive
    image = result.images.set_index("image_id").loc["Mass-Training_P_00710_RIGHT_CC"]
    assert image["label"] == 1
    assert sorted(image["pathologies"].split(";")) == ["BENIGN", "MALIGNANT"]


def test_dropped_listing_is_reported_as_a_duplicate_of_the_kept_image(descriptive):
    tree, result, _ = descriptive
    (exclusion,) = [e for e in result.exclusions if e.item == "Calc-Training_P_00016_LEFT_CC"]
    assert exclusion.source == str(tree.images["Calc-Training_P_00016_LEFT_CC"])
    assert "duplicate of Mass-Test_P_00016_LEFT_CC" in exclusion.reason


def test_dual_listed_view_with_disagreeing_official_sets_goes_to_the_overlap_side(descriptive):
    # Mass-Test + Calc-Training: official_overlap (default test) decides; its DICOM is kept
    _, result, _ = descriptive
    images = result.images.set_index("image_id")
    assert images.loc["Mass-Test_P_00016_LEFT_CC", "split"] == "test"
    assert images.loc["Calc-Test_P_00041_LEFT_CC", "split"] == "test"
    assert "Mass-Training_P_00041_LEFT_CC" not in images.index
    rois = result.rois[result.rois["image_id"] == "Mass-Test_P_00016_LEFT_CC"]
    assert set(rois["split"]) == {"test"}


def test_official_overlap_train_keeps_the_training_listing(tmp_path):
    only = {"Mass-Test_P_00016_LEFT_CC", "Calc-Training_P_00016_LEFT_CC"}
    build_cbis_tree(tmp_path / "root", only=only)
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out", official_overlap="train")
    assert result.images[["image_id", "split"]].values.tolist() == [
        ["Calc-Training_P_00016_LEFT_CC", "train"]
    ]
    assert [e.item for e in result.exclusions] == ["Mass-Test_P_00016_LEFT_CC"]


def test_dual_listed_view_in_one_official_set_keeps_the_mass_listing(descriptive):
    # P_00710 RIGHT CC is in Mass-Training and Calc-Training: a tie, broken by CSV_FILES order
    _, result, _ = descriptive
    images = result.images.set_index("image_id")
    assert images.loc["Mass-Training_P_00710_RIGHT_CC", "split"] == "train"
    assert "Calc-Training_P_00710_RIGHT_CC" not in images.index


def test_dual_listed_view_falls_back_to_the_other_dicom_when_the_kept_one_is_missing(tmp_path):
    only = {"Mass-Test_P_00016_LEFT_CC", "Calc-Training_P_00016_LEFT_CC"}
    tree = build_cbis_tree(tmp_path / "root", only=only)
    shutil.rmtree(tree.images["Mass-Test_P_00016_LEFT_CC"].parent)
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    image = result.images.set_index("image_id").loc["Calc-Training_P_00016_LEFT_CC"]
    assert (image["split"], image["n_rois_indexed"]) == ("test", 2)
    (reason,) = _reasons(result, "Mass-Test_P_00016_LEFT_CC")
    assert "duplicate of Calc-Training_P_00016_LEFT_CC" in reason and "missing" in reason


def test_strict_mode_accepts_dual_listed_views(tmp_path):
    only = {"Mass-Test_P_00016_LEFT_CC", "Calc-Training_P_00016_LEFT_CC"}
    build_cbis_tree(tmp_path / "root", only=only)
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out", strict=True)
    assert result.images["image_id"].tolist() == ["Mass-Test_P_00016_LEFT_CC"]
    assert len(result.exclusions) == 1


def test_mask_size_different_from_image_is_kept_and_flagged(descriptive):
    tree, result, _ = descriptive
    rois = result.rois[result.rois["image_id"] == "Calc-Test_P_00353_LEFT_CC"]
    assert len(rois) > 0
    assert not rois["mask_matches_image"].any()
    assert (rois["mask_rows"] != rois["image_rows"]).all()
    assert rois["image_rows"].iloc[0] == tree.shapes["Calc-Test_P_00353_LEFT_CC"][0]
    mismatched = result.rois.loc[~result.rois["mask_matches_image"], "image_id"]
    assert set(mismatched) == set(MASK_SIZE_MISMATCH)


def test_outputs_written_with_columns_and_no_temp_files(descriptive):
    _, result, out = descriptive
    assert sorted(p.name for p in out.iterdir()) == ["exclusions.csv", "images.csv", "rois.csv"]
    images = pd.read_csv(out / "images.csv", dtype=str, keep_default_na=False)
    rois = pd.read_csv(out / "rois.csv", dtype=str, keep_default_na=False)
    assert images.columns.tolist() == IMAGE_COLUMNS
    assert rois.columns.tolist() == ROI_COLUMNS
    assert images["image_id"].tolist() == sorted(images["image_id"])
    assert len(images) == len(result.images)
    assert read_exclusions(out / "exclusions.csv") == result.exclusions


# ---------------------------------------------------------------------------------------------
# Other layouts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "metadata"), [("classic", False), ("classic", True), ("descriptive", True)]
)
def test_other_layouts_give_the_same_index(tmp_path, descriptive, layout, metadata):
    _, reference, _ = descriptive
    tree = build_cbis_tree(tmp_path / "root", layout=layout, metadata=metadata)
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    assert _duplicates_only(result.exclusions)
    drop = ["dicom_path", "source"]
    pd.testing.assert_frame_equal(
        result.images.drop(columns=drop), reference.images.drop(columns=drop)
    )
    assert result.rois["roi_id"].tolist() == reference.rois["roi_id"].tolist()
    assert result.rois["mask_path"].tolist() == [str(tree.masks[r]) for r in result.rois["roi_id"]]


def test_metadata_csv_locates_series_whose_folder_name_has_no_uid(tmp_path):
    image_id = "Mass-Training_P_00001_LEFT_CC"
    tree = build_cbis_tree(tmp_path / "root", metadata=True, only={image_id})
    old_dir = tree.images[image_id].parent
    new_dir = old_dir.with_name("1-full mammogram images")
    old_dir.rename(new_dir)
    meta = tmp_path / "root" / "metadata.csv"
    meta.write_text(meta.read_text().replace(old_dir.name, new_dir.name))
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    assert result.images["dicom_path"].tolist() == [str(new_dir / tree.images[image_id].name)]
    meta.unlink()
    without = index_cbis_ddsm(tmp_path / "root", tmp_path / "out2")
    assert without.images.empty
    assert any("full image missing" in r for r in _reasons(without, image_id))


def test_csv_dir_separate_from_root(tmp_path):
    tree = build_cbis_tree(tmp_path / "root", only={"Calc-Test_P_00038_LEFT_CC"}, copy_csvs=False)
    result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out", csv_dir=CBIS_CSV_DIR)
    assert result.images["image_id"].tolist() == list(tree.images)


def test_only_some_csvs_present_indexes_those_and_lists_other_dicoms(tmp_path, caplog):
    tree = build_cbis_tree(
        tmp_path / "root",
        only={"Mass-Training_P_00001_LEFT_CC", "Calc-Test_P_00038_LEFT_CC"},
        copy_csvs=False,
    )
    _copy_csvs(tmp_path / "root", names=("mass_case_description_train_set.csv",))
    with caplog.at_level("WARNING"):
        result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    assert result.images["image_id"].tolist() == ["Mass-Training_P_00001_LEFT_CC"]
    assert "calc_case_description_test_set.csv" in caplog.text
    unreferenced = {e.source for e in result.exclusions if "no description CSV" in e.reason}
    assert str(tree.images["Calc-Test_P_00038_LEFT_CC"]) in unreferenced
    assert str(tree.masks["Calc-Test_P_00038_LEFT_CC_1"]) in unreferenced


# ---------------------------------------------------------------------------------------------
# Problems -> exclusions (and strict mode)
# ---------------------------------------------------------------------------------------------


def test_partial_download_lists_missing_image_and_indexes_the_rest(small):
    tree, tmp = small
    shutil.rmtree(tmp / "root" / "CBIS-DDSM" / "Mass-Training_P_00001_LEFT_CC")
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    assert "Mass-Training_P_00001_LEFT_CC" not in set(result.images["image_id"])
    assert len(result.images) == len(tree.images) - 1
    (reason,) = _reasons(result, "Mass-Training_P_00001_LEFT_CC")
    assert "full image missing" in reason and "not found" in reason
    # its ROI is listed, not reported as an unreferenced file
    assert _reasons(result, "Mass-Training_P_00001_LEFT_CC_1") == [
        "ROI excluded with its image (full image missing)"
    ]
    assert not any("no description CSV" in e.reason for e in result.exclusions)
    on_disk = read_exclusions(tmp / "out" / "exclusions.csv")
    assert on_disk == result.exclusions


def test_missing_roi_keeps_image_labelled_from_all_rows(small):
    tree, tmp = small
    roi_rows = {r["roi_mask_file_path"].split("/")[0]: r for r in tree.rows}
    malignant_roi = next(
        roi
        for roi, row in roi_rows.items()
        if roi.startswith("Mass-Training_P_00419_LEFT_CC_") and row["pathology"] == "MALIGNANT"
    )
    shutil.rmtree(tmp / "root" / "CBIS-DDSM" / malignant_roi)
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    image = result.images.set_index("image_id").loc["Mass-Training_P_00419_LEFT_CC"]
    assert image["label"] == 1
    assert (image["n_rois"], image["n_rois_indexed"]) == (2, 1)
    assert malignant_roi not in set(result.rois["roi_id"])
    assert any("ROI files missing" in r for r in _reasons(result, malignant_roi))


def test_image_whose_every_roi_failed_is_excluded(small):
    _, tmp = small
    shutil.rmtree(tmp / "root" / "CBIS-DDSM" / "Calc-Test_P_00038_LEFT_CC_1")
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    assert "Calc-Test_P_00038_LEFT_CC" not in set(result.images["image_id"])
    (reason,) = _reasons(result, "Calc-Test_P_00038_LEFT_CC")
    assert "none of its ROIs is usable" in reason


def test_truncated_full_image_is_excluded_naming_the_file(small):
    tree, tmp = small
    path = tree.images["Mass-Training_P_00001_LEFT_CC"]
    path.write_bytes(path.read_bytes()[:-500])
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    (exclusion,) = [e for e in result.exclusions if e.item == "Mass-Training_P_00001_LEFT_CC"]
    assert exclusion.source == str(path)
    assert "truncated" in exclusion.reason
    assert "Mass-Training_P_00001_LEFT_CC" not in set(result.images["image_id"])


def test_garbage_roi_file_is_excluded_naming_the_file(small):
    tree, tmp = small
    crop = tree.crops["Mass-Training_P_00001_LEFT_CC_1"]
    crop.write_bytes(b"not a dicom file at all")
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    sources = {e.source: e.reason for e in result.exclusions}
    assert "DICOM" in sources[str(crop)]
    roi = result.rois.set_index("roi_id").loc["Mass-Training_P_00001_LEFT_CC_1"]
    assert roi["mask_path"] == str(tree.masks["Mass-Training_P_00001_LEFT_CC_1"])
    assert roi["crop_path"] == ""


def test_mask_without_foreground_is_excluded(small):
    tree, tmp = small
    roi_id = "Mass-Training_P_00001_LEFT_CC_1"
    shape = tree.shapes["Mass-Training_P_00001_LEFT_CC"]
    write_dicom(tree.masks[roi_id], np.zeros(shape, np.uint8), DicomHeader(patient_id=roi_id))
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    assert roi_id not in set(result.rois["roi_id"])
    assert any("no foreground" in r for r in _reasons(result, roi_id))


def test_roi_folder_without_mask_is_excluded(small):
    tree, tmp = small
    roi_id = "Calc-Test_P_00038_LEFT_CC_1"
    grey = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48)
    write_dicom(tree.masks[roi_id], grey, DicomHeader(patient_id=roi_id))
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    assert any("no file looks like a mask" in r for r in _reasons(result, roi_id))


def test_strict_raises_naming_the_file(small):
    tree, tmp = small
    path = tree.images["Mass-Training_P_00001_LEFT_CC"]
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DatasetError) as info:
        index_cbis_ddsm(tmp / "root", tmp / "out", strict=True)
    assert info.value.path == str(path)
    assert not (tmp / "out" / "images.csv").exists()


def test_strict_missing_image_names_csv_and_row(small):
    _, tmp = small
    shutil.rmtree(tmp / "root" / "CBIS-DDSM" / "Mass-Training_P_00041_LEFT_CC")
    with pytest.raises(DatasetError) as info:
        index_cbis_ddsm(tmp / "root", tmp / "out", strict=True)
    assert info.value.path.endswith("mass_case_description_train_set.csv")
    rows = read_cbis_rows(tmp / "root", ("mass_case_description_train_set.csv",))
    expected = next(
        r["_row"] for r in rows if r["image_file_path"].startswith("Mass-Training_P_00041_LEFT_CC/")
    )
    assert info.value.row == int(expected)
    assert "row" in str(info.value)


def test_unknown_pathology_excludes_the_row_and_its_image(small):
    _, tmp = small
    csv_path = tmp / "root" / "calc_case_description_test_set.csv"
    raw = csv_path.read_bytes()
    line = next(x for x in raw.split(b"\r\n") if b"Calc-Test_P_00038_LEFT_CC/" in x)
    csv_path.write_bytes(raw.replace(line, line.replace(b",BENIGN,", b",PROBABLY_BENIGN,")))
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    assert any(
        "unknown pathology 'PROBABLY_BENIGN'" in r
        for r in _reasons(result, "Calc-Test_P_00038_LEFT_CC_1")
    )
    assert "Calc-Test_P_00038_LEFT_CC" not in set(result.images["image_id"])
    assert len(result.images) == 3


def test_duplicate_row_is_excluded_and_image_kept(small):
    _, tmp = small
    csv_path = tmp / "root" / "mass_case_description_train_set.csv"
    raw = csv_path.read_bytes()
    records = raw.split(b"\r\n")
    dup = next(x for x in records if x.startswith(b"P_00001,3,LEFT,CC,"))
    csv_path.write_bytes(raw + dup + b"\r\n")
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    assert any(
        r.startswith("duplicate of row")
        for r in _reasons(result, "Mass-Training_P_00001_LEFT_CC_1")
    )
    assert "Mass-Training_P_00001_LEFT_CC" in set(result.images["image_id"])


def test_unreferenced_dicom_is_listed(small):
    _, tmp = small
    stray = tmp / "root" / "CBIS-DDSM" / "Mass-Training_P_09999_LEFT_CC" / "a" / "b" / "1-1.dcm"
    write_dicom(stray, np.ones((8, 8), np.uint16), DicomHeader(patient_id="x"))
    result = index_cbis_ddsm(tmp / "root", tmp / "out")
    (exclusion,) = [e for e in result.exclusions if e.source == str(stray)]
    assert "no description CSV row" in exclusion.reason


# ---------------------------------------------------------------------------------------------
# Hard errors
# ---------------------------------------------------------------------------------------------


def test_root_missing_or_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        index_cbis_ddsm(tmp_path / "nope", tmp_path / "out")
    _copy_csvs(tmp_path / "root")
    with pytest.raises(DatasetError, match="expected a folder CBIS-DDSM/"):
        index_cbis_ddsm(tmp_path / "root", tmp_path / "out")


def test_no_description_csvs(tmp_path):
    (tmp_path / "root" / "CBIS-DDSM").mkdir(parents=True)
    with pytest.raises(DatasetError) as info:
        index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    assert "mass_case_description_train_set.csv" in str(info.value)
    assert info.value.path == str(tmp_path / "root")


def test_missing_column_names_column_and_file(tmp_path):
    _copy_csvs(tmp_path)
    path = tmp_path / "calc_case_description_test_set.csv"
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b",pathology,", b",diagnosis,", 1))
    with pytest.raises(DatasetError) as info:
        read_description_csvs(tmp_path)
    assert info.value.path == str(path)
    assert "'pathology'" in str(info.value)


def test_semicolon_delimited_csv_is_rejected(tmp_path):
    _copy_csvs(tmp_path)
    path = tmp_path / "mass_case_description_test_set.csv"
    path.write_bytes(path.read_bytes().replace(b",", b";"))
    with pytest.raises(DatasetError, match="expected comma-separated") as info:
        read_description_csvs(tmp_path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("content", [b"", b"\r\n", None])
def test_empty_csv_is_rejected(tmp_path, content):
    _copy_csvs(tmp_path)
    path = tmp_path / "mass_case_description_test_set.csv"
    header = path.read_bytes().split(b"\r\n")[0] + b"\r\n"
    path.write_bytes(header if content is None else content)
    with pytest.raises(DatasetError, match="empty|no data rows") as info:
        read_description_csvs(tmp_path)
    assert info.value.path == str(path)


def test_metadata_without_file_location_is_ignored_with_a_warning(tmp_path, caplog):
    image_id = "Mass-Training_P_00001_LEFT_CC"
    tree = build_cbis_tree(tmp_path / "root", only={image_id})
    (tmp_path / "root" / "metadata.csv").write_text(
        "Series UID,Collection,Subject ID\r\n1.2.3,CBIS-DDSM,x\r\n"
    )
    with caplog.at_level("WARNING"):
        result = index_cbis_ddsm(tmp_path / "root", tmp_path / "out")
    assert "'file_location'" in caplog.text
    assert result.images["dicom_path"].tolist() == [str(tree.images[image_id])]
