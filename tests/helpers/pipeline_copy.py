"""Copies of a finished tiny pipeline for the end-to-end tests to try changes on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def copy_pipeline(pipeline: Path, workdir: Path) -> Path:
    """A copy of the finished tiny pipeline to try changes on: results/ as hard links (cheap;
    jobs replace files, never edit them in place), Snakemake's records as real copies."""
    shutil.copytree(pipeline, workdir, symlinks=True, ignore=shutil.ignore_patterns("results"))
    shutil.copytree(pipeline / "results", workdir / "results", copy_function=os.link)
    return workdir
