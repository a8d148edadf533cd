"""Snakemake adapter: one table as an HTML page for Snakemake's report."""

from pathlib import Path

from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.report_pages import csv_page, markdown_page

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
source = Path(snakemake.input[0])
write = markdown_page if source.suffix == ".md" else csv_page
write(source, snakemake.params.title, Path(snakemake.output[0]))
