"""Figures of the whole-image stage that read finished outputs (no training).

* Fig 2: training and validation loss of two rows (the paper: VGG16 tops 512 x 3 and 512 x 1),
  from their ``history.csv``; a row that did not train gets a panel saying why.
* Heatmap overlays (Figure 1's idea): a few test mammograms with the patch classifier's
  malignancy heatmap (the softmax probabilities of the two malignant patch classes, summed)
  overlaid, captioned with the image, its label and the malignant probability at its hottest
  spot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from e2e_mammo.constants import IMAGE_CLASSES, MALIGNANT_PATCH_CLASSES
from e2e_mammo.data.batches import prepare_batch
from e2e_mammo.data.whole_images import image_split_tables, read_png16
from e2e_mammo.evaluation.localisation import heatmap_on_image
from e2e_mammo.models.heatmap import heatmap_window, patch_heatmap
from e2e_mammo.models.saved import load_model
from e2e_mammo.plan.evaluations import OverlaySettings
from e2e_mammo.reporting.figures import plot_heatmap_overlays, plot_loss_curves


def panel_label(result: Mapping[str, Any]) -> str:
    """'<arch>, top <block1> + <block2>' from a row's ``result.json``."""
    cells = result.get("cells") or {}
    blocks = " + ".join(v for k, v in sorted(cells.items()) if k.startswith("block"))
    return f"{result['arch']}, top {blocks}".strip()


#: Fig 2's title: our rows, beside the paper's VGG16 tops.
FIG2_TITLE = "Fig 2: training and validation loss (ours; the paper's Fig 2 uses VGG16 tops)"


def fig2_panels(
    result_files: Sequence[Path],
) -> tuple[dict[str, pd.DataFrame | None], dict[str, str]]:
    """Fig 2's panels from each row's ``result.json`` and the ``history.csv`` beside it: the
    history per panel label (``None`` for a row that did not train) and why those did not."""
    histories: dict[str, pd.DataFrame | None] = {}
    notes: dict[str, str] = {}
    for result_file in result_files:
        result = json.loads(Path(result_file).read_text())
        label = panel_label(result)
        history = Path(result_file).parent / "history.csv"
        if result.get("status") == "ok" and history.is_file():
            histories[label] = pd.read_csv(history)
        else:
            histories[label] = None
            notes[label] = f"{result.get('status')}: {result.get('note', '')}"
    return histories, notes


def write_fig2(result_files: Sequence[Path], out_png: Path) -> Path:
    """Fig 2 (:func:`fig2_panels`) drawn into ``out_png``."""
    histories, notes = fig2_panels(result_files)
    return plot_loss_curves(histories, out_png, title=FIG2_TITLE, notes=notes)


def pick_examples(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` images alternating malignant and benign (first by image id): a fixed choice."""
    ordered = table.sort_values("image_id")
    malignant = ordered[ordered["label"] == 1]
    benign = ordered[ordered["label"] == 0]
    picks = []
    for i in range(n):
        source = malignant if i % 2 == 0 else benign
        if i // 2 < len(source):
            picks.append(source.iloc[i // 2])
    return pd.DataFrame(picks)


def malignancy_heatmap(patch_model, image: np.ndarray, window: int) -> np.ndarray:
    """The (h, w) sum of the malignant patch classes' softmax over one uint16 image."""
    x = prepare_batch(
        torch.from_numpy(image.astype(np.int32)).view(1, 1, *image.shape), device="cpu"
    )
    maps = patch_heatmap(patch_model, x, window)[0]
    return maps[list(MALIGNANT_PATCH_CLASSES)].sum(0).clamp(0, 1).numpy()


def heatmap_items(
    splits_csv: Path, manifest_csv: Path, patch_model_path: Path, settings: OverlaySettings
) -> list[dict[str, Any]]:
    """The overlays' images: ``settings.n_images`` test images (``image_size``), each with
    its malignancy heatmap (``patch_size``) placed on the image (each cell at its patch's
    centre, bilinear in between) and a caption naming its label and top score."""
    tables = image_split_tables(splits_csv, manifest_csv)
    patch_model, _ = load_model(patch_model_path)
    window = heatmap_window(settings.patch_size)
    size = settings.image_size
    items: list[dict[str, Any]] = []
    for _, row in pick_examples(tables["test"], settings.n_images).iterrows():
        image = read_png16(row["png_path"], size)
        heat = malignancy_heatmap(patch_model, image, window)
        caption = (
            f"{row['image_id']}\nlabel {IMAGE_CLASSES[int(row['label'])]}, "
            f"max malignant p {heat.max():.2f}"
        )
        placed = heatmap_on_image(heat, image.shape, window)
        items.append({"image": image, "heatmap": placed, "caption": caption})
    return items


def write_heatmap_overlays(
    splits_csv: Path,
    manifest_csv: Path,
    patch_model_path: Path,
    settings: OverlaySettings,
    out_png: Path,
) -> Path:
    """The overlays of :func:`heatmap_items` drawn into ``out_png``."""
    items = heatmap_items(splits_csv, manifest_csv, patch_model_path, settings)
    title = "Patch classifier heatmaps (malignant mass + calcification probability), test images"
    return plot_heatmap_overlays(items, out_png, title=title)
