"""The split stage: read the converted manifest, split by patient, write splits and summary."""

from __future__ import annotations

import logging
from pathlib import Path

from e2e_mammo.errors import DatasetError
from e2e_mammo.exclusions import write_exclusions
from e2e_mammo.io import atomic_write_csv, read_table
from e2e_mammo.preprocess.splits import SplitResult, make_splits

log = logging.getLogger(__name__)


def run_split(
    images_csv: Path,
    out_dir: Path,
    mode: str,
    seed: int,
    test_frac: float = 0.15,
    val_frac: float = 0.10,
    official_overlap: str = "test",
) -> SplitResult:
    """Split the images of ``images_csv`` and write ``splits.csv``, ``summary.csv`` and
    ``exclusions.csv`` into ``out_dir`` (each atomically; ``splits.csv``, which holds the
    dataset's IDs, spreadsheet-safe)."""
    images = read_table(images_csv, ("image_id", "patient_id", "label"))
    if images.empty:
        raise DatasetError(images_csv, "no images to split")
    bad = ~images["label"].isin(["0", "1"])
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 1
        raise DatasetError(
            images_csv, f"label must be 0 or 1, got {images['label'][bad].iloc[0]!r}", row=row
        )
    images["label"] = images["label"].astype(int)
    result = make_splits(
        images,
        mode=mode,
        seed=seed,
        test_frac=test_frac,
        val_frac=val_frac,
        official_overlap=official_overlap,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_exclusions(result.exclusions, out_dir / "exclusions.csv")
    atomic_write_csv(result.summary, out_dir / "summary.csv")
    atomic_write_csv(result.splits, out_dir / "splits.csv", safe=True)
    for row in result.summary.itertuples():
        log.info(
            "%s: %d patients, %d images, %.1f%% positive",
            row.split,
            row.patients,
            row.images,
            100 * row.positive_rate,
        )
    return result
