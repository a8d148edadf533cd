"""Building a synthetic dataset folder so that it appears complete or not at all, and replacing
only folders this module built.

Every tree :func:`staged_output` builds carries a :data:`MARKER` file at its top. A folder is
replaced (or a leftover staging folder removed) only when it carries that marker or is empty:
a real download named as the output by mistake is refused with an
:class:`~e2e_mammo.errors.OutputError` and nothing in it is touched. A synthetic tree written
before the marker existed is refused the same way; the message says to remove it by hand.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from e2e_mammo.errors import OutputError

__all__ = ["MARKER", "is_synthetic_tree", "staged_output"]

#: The file at the top of every synthetic tree: the licence to delete and rebuild it.
MARKER = ".e2e-mammo-synthetic"
_MARKER_TEXT = (
    "A synthetic dataset written by e2e-mammo (e2e_mammo.datasets.synth).\n"
    "The pipeline deletes and rebuilds a folder only when this file is in it.\n"
)


def is_synthetic_tree(folder: Path) -> bool:
    """Whether ``folder`` is a tree :func:`staged_output` built (it holds the marker file)."""
    return (Path(folder) / MARKER).is_file()


def _check_replaceable(folder: Path, what: str) -> None:
    """Refuse (deleting nothing) unless ``folder`` is absent, empty or a synthetic tree."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_dir() and not folder.is_symlink():
        if is_synthetic_tree(folder) or not any(folder.iterdir()):
            return
    raise OutputError(
        folder,
        f"{what} exists and is not a synthetic dataset built by e2e-mammo (it has no {MARKER} "
        "file), so it is left as it is and nothing was deleted. If it is your real data, give "
        "the synthetic dataset another output folder; if it is a synthetic dataset from an "
        "earlier version, remove it by hand and run again.",
    )


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """Build a tree in ``out.parent/.<name>.partial`` and rename it to ``out`` only on success.

    The tree gets the :data:`MARKER` file first. A crash leaves only the hidden ``.partial``
    folder (removed on the next run); ``out`` itself either does not exist or is a complete
    earlier tree, never a half-written one. (Files written inside the staging folder need no
    atomic write of their own: the folder rename is the commit.)

    Raises:
        OutputError: ``out`` (or the staging folder) exists, is not empty and is not a tree
            built here (see the module doc); nothing is deleted.
    """
    out = Path(out)
    partial = out.parent / f".{out.name}.partial"
    _check_replaceable(out, "the output folder")
    _check_replaceable(partial, "the staging folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    (partial / MARKER).write_text(_MARKER_TEXT, encoding="ascii")
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        _check_replaceable(out, "the output folder")  # again: something may have come meanwhile
    except OutputError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old.{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(partial, out)
    if old.exists():
        shutil.rmtree(old)
