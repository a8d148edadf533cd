"""Snakemake adapter: collect every Table 1 row's result into table1.csv and table1.md."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.table1 import write_table1

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
write_table1(
    snakemake.input, snakemake.params.paper, Path(snakemake.output.csv), Path(snakemake.output.md)
)
