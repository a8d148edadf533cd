"""The localisation table: each trained patch classifier's pointing game on the test split's
malignant images (:mod:`e2e_mammo.evaluation.localisation`), beside the chance rate.

The lesions are the malignant ROIs of ``masks.csv`` (the converter's masks, at the images'
size): on the synthetic data they are exactly where the generator drew the lesions; on
CBIS-DDSM they are the dataset's ROI outlines. The heatmap is the overlays' (the malignant
mass and calcification probabilities summed, softmax over the five patch classes), computed at
the converted size; nothing is masked. Writes ``localisation.csv`` and ``localisation.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from e2e_mammo.data.whole_images import image_split_tables, read_png16
from e2e_mammo.evaluation.localisation import Box, HitRate, hit_rate, lesion_box, point
from e2e_mammo.io import atomic_write_bytes, atomic_write_csv, read_table
from e2e_mammo.models.heatmap import heatmap_window
from e2e_mammo.models.saved import load_model
from e2e_mammo.plan.evaluations import LocalisationSettings
from e2e_mammo.preprocess.paths import resolve_listed_path
from e2e_mammo.reporting.figure_stage import malignancy_heatmap

log = logging.getLogger(__name__)
COLUMNS = ["row", *HitRate.__dataclass_fields__]


@dataclass(frozen=True)
class LocalisationInputs:
    """The split and converter tables, and each trained Table 1 row's ``model.pt``."""

    splits_csv: Path
    manifest_csv: Path
    masks_csv: Path
    patch_models: Mapping[str, Path]


def malignant_lesions(masks_csv: Path, image_ids: set[str], size) -> dict[str, list[Box]]:
    """The bounding boxes of the malignant ROIs of ``image_ids``, by image, at ``size``."""
    masks = read_table(masks_csv, required=("image_id", "label", "mask_png_path"))
    chosen = masks[masks["image_id"].isin(image_ids) & (masks["label"] == "1")]
    lesions: dict[str, list[Box]] = {}
    for _, roi in chosen.iterrows():
        if not roi["mask_png_path"]:
            continue
        mask = read_png16(resolve_listed_path(roi["mask_png_path"], masks_csv), size)
        box = lesion_box(mask > 0)
        if box is not None:
            lesions.setdefault(roi["image_id"], []).append(box)
    return lesions


def _row_hit_rate(model_path: Path, images: pd.DataFrame, lesions, settings) -> HitRate:
    model, _ = load_model(model_path)
    window = heatmap_window(settings.patch_size)
    results = []
    for _, image in images.iterrows():
        pixels = read_png16(image["png_path"], settings.image_size)
        heat = malignancy_heatmap(model, pixels, window)
        results.append((image["patient_id"], point(heat, lesions[image["image_id"]], window)))
    return hit_rate(results, settings.n_boot, settings.seed)


def localisation_frame(inputs: LocalisationInputs, settings: LocalisationSettings) -> pd.DataFrame:
    """One line per patch classifier: its pointing game over the test split's malignant images
    that have a malignant lesion mask."""
    test = image_split_tables(inputs.splits_csv, inputs.manifest_csv)["test"]
    malignant = test[test["label"].astype(int) == 1]
    lesions = malignant_lesions(inputs.masks_csv, set(malignant["image_id"]), settings.image_size)
    images = malignant[malignant["image_id"].isin(lesions)]
    log.info("pointing game on %d malignant test images with lesion masks", len(images))
    lines = []
    for row, path in inputs.patch_models.items():
        rate = _row_hit_rate(Path(path), images, lesions, settings)
        lines.append({"row": row, **asdict(rate)})
        log.info("%s: %d of %d hits (chance %.2f)", row, rate.hits, rate.n_images, rate.chance_rate)
    return pd.DataFrame(lines, columns=COLUMNS)


def _rate(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.2f}"


CAPTION = (
    "Localisation (not a table of the paper): the pointing game of each trained patch "
    "classifier's heatmap on the test split's malignant images with a lesion mask. A hit: the "
    "heatmap's highest patch (malignant mass + calcification probability) is centred inside a "
    "malignant lesion's bounding box widened by one patch on every side; nothing is masked. "
    "Chance rate: the hit rate of a peak drawn uniformly among the heatmap's patches. 95% "
    "intervals: patients resampled; the verdict compares the interval with the chance rate. "
    "Our numbers come from the run configured in params.yaml (the demo: synthetic data, "
    "reduced image size and epochs)."
)
HEADER = ("Patch classifier", "Images", "Patients", "Hits", "Hit rate (95% CI)", "Chance rate")


def localisation_markdown(frame: pd.DataFrame) -> str:
    """The table as GitHub Markdown, its caption first."""
    lines = ["| " + " | ".join((*HEADER, "Verdict")) + " |", "|" + "---|" * (len(HEADER) + 1)]
    for _, r in frame.iterrows():
        interval = f"{_rate(r['hit_rate'])} ({_rate(r['ci_low'])}-{_rate(r['ci_high'])})"
        cells = (r["row"], r["n_images"], r["n_patients"], r["hits"], interval)
        lines.append(
            "| " + " | ".join(str(c) for c in cells) + f" | {_rate(r['chance_rate'])} "
            f"| {r['verdict']} |"
        )
    return CAPTION + "\n\n" + "\n".join(lines) + "\n"


def write_localisation(
    inputs: LocalisationInputs, settings: LocalisationSettings, csv: Path, md: Path
) -> pd.DataFrame:
    """Compute :func:`localisation_frame`; write its CSV and Markdown atomically."""
    frame = localisation_frame(inputs, settings)
    atomic_write_csv(frame, csv)
    atomic_write_bytes(localisation_markdown(frame).encode(), md)
    return frame
