"""Learning-curve figures (train/validation loss and accuracy per epoch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_learning_curves(history: pd.DataFrame, out_png: Path, title: str = "") -> Path:
    """Two panels, loss and accuracy, train vs validation, stage boundaries marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(history["epoch"], history[f"train_{metric}"], label="train")
        ax.plot(history["epoch"], history[f"val_{metric}"], label="validation")
        if "stage" in history:
            changes = history["epoch"][history["stage"] != history["stage"].shift()].iloc[1:]
            for epoch in changes:
                ax.axvline(epoch - 0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
