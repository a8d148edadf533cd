"""The localisation stage on a tiny image set whose lesions are known."""

import cv2
import pandas as pd
import pytest
from helpers.image_cases import SIZE, write_image_dataset, write_patch_model

from e2e_mammo.plan.evaluations import LocalisationSettings
from e2e_mammo.reporting.localisation_stage import (
    COLUMNS,
    LocalisationInputs,
    malignant_lesions,
    write_localisation,
)

SETTINGS = LocalisationSettings(image_size=SIZE, patch_size=32, n_boot=50, seed=0)


def _write_masks(folder, manifest, benign_too=False):
    """A mask per malignant image (its bright blob), and optionally a benign ROI on image 0."""
    rows = []
    for _, image in pd.read_csv(manifest).iterrows():
        pixels = cv2.imread(image["png_path"], cv2.IMREAD_UNCHANGED)
        if (pixels == 60000).any():
            path = folder / f"{image['image_id']}_mask.png"
            cv2.imwrite(str(path), ((pixels == 60000) * 255).astype("uint8"))
            rows.append((image["image_id"], 1, str(path)))
    if benign_too:
        rows.append(("test_0", 0, rows[0][2]))
    masks = folder / "masks.csv"
    pd.DataFrame(rows, columns=["image_id", "label", "mask_png_path"]).to_csv(masks, index=False)
    return masks


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("localisation")
    splits, manifest = write_image_dataset(folder)
    masks = _write_masks(folder, manifest, benign_too=True)
    models = {"a": write_patch_model(folder / "a.pt"), "b": write_patch_model(folder / "b.pt")}
    return folder, LocalisationInputs(splits, manifest, masks, models)


def test_only_malignant_lesions_of_the_asked_images_count(workspace) -> None:
    _, inputs = workspace
    lesions = malignant_lesions(inputs.masks_csv, {"test_0", "test_1"}, SIZE)
    assert list(lesions) == ["test_1"] and len(lesions["test_1"]) == 1


def test_every_patch_classifier_gets_a_line_over_the_malignant_test_images(workspace) -> None:
    folder, inputs = workspace
    frame = write_localisation(inputs, SETTINGS, folder / "l.csv", folder / "l.md")
    assert list(frame.columns) == COLUMNS and list(frame["row"]) == ["a", "b"]
    # test images 1, 3 and 5 are malignant, two images per patient
    assert set(frame["n_images"]) == {3} and set(frame["n_patients"]) == {3}
    assert frame["chance_rate"].between(0, 1).all()
    assert set(frame["verdict"]) == {"not decided (fewer than 10 patients)"}
    assert pd.read_csv(folder / "l.csv")["row"].tolist() == ["a", "b"]


def test_the_markdown_says_what_a_hit_is_and_lists_each_classifier(workspace) -> None:
    folder, inputs = workspace
    write_localisation(inputs, SETTINGS, folder / "m.csv", folder / "m.md")
    text = (folder / "m.md").read_text()
    assert "bounding box widened by one patch" in text and "Chance rate" in text
    assert "| a | 3 | 3 |" in text and "| b | 3 | 3 |" in text
