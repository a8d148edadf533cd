"""The real indexers on the built-in synthetic trees: right images, labels, patients and masks."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from e2e_mammo.datasets.cbis_ddsm.descriptions import read_description_csvs, view_id
from e2e_mammo.datasets.cbis_ddsm.index import index_cbis_ddsm
from e2e_mammo.datasets.cbis_ddsm.synthetic import synth_cbis_ddsm
from e2e_mammo.datasets.inbreast.index import index_inbreast, read_inbreast_csv
from e2e_mammo.datasets.inbreast.synthetic import synth_inbreast


@pytest.fixture(scope="module", params=["descriptive", "classic"])
def cbis(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp(f"cbis-{request.param}") / "download"
    synth_cbis_ddsm(root, n_patients=12, image_size=(240, 160), seed=5, layout=request.param)
    return root, index_cbis_ddsm(root, root.parent / "index")


def test_every_synthetic_cbis_view_is_indexed_once(cbis) -> None:
    root, result = cbis
    rows = read_description_csvs(root)
    views = rows["image_id"].map(view_id)
    assert len(result.images) == views.nunique()
    assert len(result.rois) == len(rows)
    dropped = {e.item for e in result.exclusions}
    assert dropped and all(e.reason.startswith("duplicate of ") for e in result.exclusions)
    assert len(dropped) == rows["image_id"].nunique() - views.nunique()


def test_synthetic_cbis_labels_follow_pathology(cbis) -> None:
    _, result = cbis
    malignant = set(result.rois.loc[result.rois["pathology"] == "MALIGNANT", "image_id"])
    labelled = set(result.images.loc[result.images["label"] == 1, "image_id"])
    assert labelled == malignant


def test_synthetic_cbis_masks_are_the_binary_files(cbis) -> None:
    _, result = cbis
    for path in result.rois["mask_path"]:
        ds = pydicom.dcmread(path)
        assert ds.BitsAllocated == 8
        assert set(ds.pixel_array.ravel().tolist()) <= {0, 255}


def test_synthetic_cbis_patients_match_subject_ids(cbis) -> None:
    _, result = cbis
    for image_id, patient in zip(
        result.images["image_id"], result.images["patient_id"], strict=True
    ):
        assert f"_{patient}_" in image_id


def test_synthetic_inbreast_indexes_with_labels(tmp_path: Path) -> None:
    root = tmp_path / "INbreast Release 1.0"
    synth_inbreast(root, n_patients=8, image_size=(240, 192), seed=2)
    result = index_inbreast(root, tmp_path / "index")
    table = read_inbreast_csv(root / "INbreast.csv")
    labelled = table[table["label"].notna()]
    assert len(result.images) == len(labelled)
    assert result.images["patient_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    birads3 = [e for e in result.exclusions if e.reason.startswith("BI-RADS 3")]
    assert len(birads3) == len(table) - len(labelled)
