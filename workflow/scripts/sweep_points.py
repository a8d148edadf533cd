"""Snakemake adapter: one Table 4 model column as DVC plot data (AUC by training patients)."""

from pathlib import Path

import pandas as pd

from e2e_mammo.io import atomic_write_csv
from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.summaries import SWEEP_COLUMNS, sweep_points

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
frame = pd.read_csv(snakemake.input[0], dtype={"size": str})
name = f"{snakemake.wildcards.init}-{snakemake.wildcards.model}"
points = sweep_points(frame).get(name, pd.DataFrame(columns=SWEEP_COLUMNS))
atomic_write_csv(points, Path(snakemake.output[0]))
