"""Building a synthetic dataset folder so that it appears complete or not at all."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["staged_output"]


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """Build a tree in ``out.parent/.<name>.partial`` and rename it to ``out`` only on success.

    A crash leaves only the hidden ``.partial`` folder (removed on the next run); ``out`` itself
    either does not exist or is a complete earlier tree, never a half-written one. (Files written
    inside the staging folder need no atomic write of their own: the folder rename is the commit.)
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old.{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(partial, out)
    if old.exists():
        shutil.rmtree(old)
