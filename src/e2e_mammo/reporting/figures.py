"""The paper's figures: Fig 2 (train/validation loss of two whole image classifiers), Fig 3 (ROC
curves of the best models and their ensemble) and heatmap overlays on mammograms.

Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure``, rendered by Agg),
so no pyplot state or GUI backend is involved and nothing stays open; each PNG is rendered into
memory and written with :func:`atomic_write_bytes`.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from e2e_mammo.io import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

DPI = 120
MAX_DISPLAY_SIDE = 1024  # mammograms are shown at most this many pixels on their long side


def _new_figure(**kwargs: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig: Figure, out_png: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    fig.clear()
    return atomic_write_bytes(buffer.getvalue(), out_png)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _panel_message(ax: Any, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        _wrap(text, 40),
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=9,
        color="dimgrey",
    )


def loss_curves_figure(
    histories: Mapping[str, pd.DataFrame | None],
    title: str = "Fig 2: train and validation loss curves",
    notes: Mapping[str, str] | None = None,
) -> Figure:
    """The paper's Fig 2: one panel per labelled row (e.g. ``"VGG16 512 x 3"``) with train and
    validation loss per epoch (history columns ``epoch, train_loss, val_loss`` and optionally
    ``stage``, whose changes are marked), panels sharing the y axis. A row whose history is
    ``None`` (or empty) gets a panel saying ``not run: <notes[label]>``."""
    notes = notes or {}
    labels = list(histories) or ["(no rows)"]
    fig = _new_figure(figsize=(4.2 * len(labels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(labels), sharey=True, squeeze=False)[0]
    for ax, label in zip(axes, labels, strict=True):
        history = histories.get(label)
        ax.set_title(label)
        ax.set_xlabel("epoch")
        if history is None or len(history) == 0:
            why = notes.get(label) or ("no epochs recorded" if history is not None else "")
            _panel_message(ax, f"not run: {why}" if why else "not run")
            ax.set_xticks([])
            continue
        ax.plot(history["epoch"], history["train_loss"], marker=".", label="train")
        ax.plot(history["epoch"], history["val_loss"], marker=".", label="validation")
        if "stage" in history:
            stage = history["stage"]
            for epoch in history["epoch"][stage != stage.shift()].iloc[1:]:
                ax.axvline(epoch - 0.5, color="grey", lw=0.8, ls=":")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("loss")
    fig.suptitle(title)
    return fig


def plot_loss_curves(
    histories: Mapping[str, pd.DataFrame | None],
    out_png: Path,
    title: str = "Fig 2: train and validation loss curves",
    notes: Mapping[str, str] | None = None,
) -> Path:
    """Draw :func:`loss_curves_figure` into ``out_png`` (written atomically)."""
    return _save(loss_curves_figure(histories, title=title, notes=notes), out_png)


def roc_curves_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """The paper's Fig 3: one ROC curve per label from ``(labels, scores)`` with
    ``"label (AUC = 0.xx)"`` in the legend and the chance diagonal. A curve whose labels hold a
    single class has no ROC: it is skipped and named in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _new_figure(figsize=(5.5, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="chance")
    for name, (labels, scores) in curves.items():
        labels, scores = np.asarray(labels).ravel(), np.asarray(scores, dtype=float).ravel()
        if len(labels) != len(scores):
            raise ValueError(f"{name}: {len(labels)} labels but {len(scores)} scores")
        if len(np.unique(labels)) < 2:
            ax.plot([], [], " ", label=f"{name}: skipped (labels hold one class)")
            continue
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC = {roc_auc_score(labels, scores):.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return fig


def plot_roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], out_png: Path, title: str
) -> Path:
    """Draw :func:`roc_curves_figure` into ``out_png`` (written atomically)."""
    return _save(roc_curves_figure(curves, title=title), out_png)


def _display_image(image: np.ndarray) -> np.ndarray:
    """The mammogram as float32 in [0, 1], shrunk to ``MAX_DISPLAY_SIDE`` on its long side."""
    import cv2

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W), got shape {image.shape}")
    image = image.astype(np.float32)
    scale = MAX_DISPLAY_SIDE / max(image.shape)
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    low, high = np.nanmin(image), np.nanmax(image)
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def heatmap_overlays_figure(items: Sequence[dict], title: str) -> Figure:
    """A grid (up to 4 per row) of mammograms in grey with their heatmap (``(h, w)`` in [0, 1])
    upsampled bilinearly to the shown image size and overlaid with the ``jet`` colormap
    (alpha 0.4, fixed 0-1 range, one colour bar); each item's ``caption`` is its title."""
    import cv2

    columns = min(4, max(1, len(items)))
    rows = max(1, math.ceil(len(items) / columns))
    fig = _new_figure(figsize=(3.0 * columns + 0.8, 3.8 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    overlay = None
    for ax in axes:
        ax.set_axis_off()
    for ax, item in zip(axes, items, strict=False):
        image = _display_image(item["image"])
        heatmap = np.asarray(item["heatmap"], dtype=np.float32)
        if heatmap.ndim != 2:
            raise ValueError(f"heatmap must be (h, w), got shape {heatmap.shape}")
        upsampled = cv2.resize(
            heatmap, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR
        )
        ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
        overlay = ax.imshow(upsampled, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        ax.set_title(_wrap(str(item.get("caption", "")), 34), fontsize=8)
    if overlay is not None:
        fig.colorbar(overlay, ax=axes.tolist(), shrink=0.8, label="heatmap score")
    else:
        _panel_message(axes[0], "no images")
    fig.suptitle(title)
    return fig


def plot_heatmap_overlays(items: Sequence[dict], out_png: Path, title: str) -> Path:
    """Draw :func:`heatmap_overlays_figure` into ``out_png`` (written atomically)."""
    return _save(heatmap_overlays_figure(items, title=title), out_png)


def sweep_figure(frame: pd.DataFrame, title: str) -> Figure:
    """Table 4 as a plot: validation AUC against training patients with the 95% intervals, one
    line per model and start (``frame``: :func:`e2e_mammo.reporting.table4.table4_frame`; the
    control dashed); the mean over seeds where several ran."""
    fig = _new_figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    ran = frame[(frame["status"] == "ok") & frame["auc"].notna()]
    for (init, model), cells in ran.groupby(["init", "model"], sort=False):
        points = cells.groupby("n_patients").agg(
            auc=("auc", "mean"), low=("ci_low", "mean"), high=("ci_high", "mean")
        )
        x = points.index.to_numpy(dtype=float)
        y = points["auc"].to_numpy(dtype=float)
        err = np.vstack([y - points["low"].to_numpy(float), points["high"].to_numpy(float) - y])
        label = f"{model} (control: patch classifier only)" if init == "patch_only" else model
        style = "--" if init == "patch_only" else "-"
        ax.errorbar(x, y, yerr=np.nan_to_num(err), fmt="o" + style, capsize=3, label=label)
    if ran.empty:
        _panel_message(ax, "no cell of the sweep trained")
    ax.axhline(0.5, color="grey", lw=1, ls=":", label="chance")
    ax.set_xlabel("training patients")
    ax.set_ylabel("validation AUC (95% CI)")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(_wrap(title, 70), fontsize=10)
    return fig


def plot_sweep(frame: pd.DataFrame, out_png: Path, title: str) -> Path:
    """Draw :func:`sweep_figure` into ``out_png`` (written atomically)."""
    return _save(sweep_figure(frame, title=title), out_png)


def dataset_examples_figure(items: Sequence[dict], title: str) -> Figure:
    """The paper's Fig 4: one mammogram per dataset (``image``, ``caption``), each above the
    histogram of its breast pixels' grey values (0-255 scale; pixels above 2% of the image's
    maximum), so that the datasets' intensity profiles can be compared."""
    fig = _new_figure(figsize=(3.2 * max(1, len(items)) + 0.4, 6.4), layout="constrained")
    axes = fig.subplots(2, max(1, len(items)), squeeze=False)
    for column, item in enumerate(items):
        image = np.asarray(item["image"], dtype=np.float32)
        shown = _display_image(image)
        axes[0, column].imshow(shown, cmap="gray", vmin=0, vmax=1)
        axes[0, column].set_axis_off()
        axes[0, column].set_title(_wrap(str(item.get("caption", "")), 34), fontsize=8)
        # clipped: float rounding may put the brightest pixel just above 255, out of the bins
        grey = np.minimum(image * (255.0 / max(float(image.max()), 1.0)), 255.0)
        breast = grey[grey > 0.02 * 255.0]
        axes[1, column].hist(breast, bins=64, range=(0, 255), color="dimgrey")
        axes[1, column].set_xlabel("grey value (0-255, breast pixels)")
    if not items:
        _panel_message(axes[0, 0], "no images")
    axes[1, 0].set_ylabel("pixels")
    fig.suptitle(title)
    return fig


def plot_dataset_examples(items: Sequence[dict], out_png: Path, title: str) -> Path:
    """Draw :func:`dataset_examples_figure` into ``out_png`` (written atomically)."""
    return _save(dataset_examples_figure(items, title=title), out_png)
