"""Errors raised on bad input: each names the offending file (and row) and what is wrong."""

from __future__ import annotations

from pathlib import Path


class DatasetError(Exception):
    """Input data that cannot be used, with the file (and row) at fault.

    The message always reads ``<path>[, row N]: <what is wrong>`` so that a user can open the
    file and find the problem.
    """

    def __init__(self, path: str | Path, problem: str, row: int | str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.row = row
        where = self.path if row is None else f"{self.path}, row {row}"
        super().__init__(f"{where}: {problem}")


class ConfigError(Exception):
    """A parameter file or option that is invalid; the message says which key and why."""


class BundleError(DatasetError):
    """A file that is not a usable model bundle (``<path>: <why>``)."""


class OutputError(DatasetError):
    """An output folder a stage cannot or will not write (``<folder>: <what to do>``): a full
    disk, or a folder that holds something the stage must not replace. A :class:`DatasetError`
    so that the command line reports it like any other problem with the files."""
