"""Snakemake adapter: each whole-image row's loss per epoch, as DVC plot data (Fig 2's curves)."""

from pathlib import Path

import pandas as pd

from e2e_mammo.io import atomic_write_csv
from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.summaries import loss_curve

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
for history, out in zip(snakemake.input, snakemake.output, strict=True):
    atomic_write_csv(loss_curve(pd.read_csv(history)), Path(out))
