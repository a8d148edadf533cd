"""The checkpoint of a training run: one file, so "last" and "best" can never disagree.

``checkpoint.pt`` is rewritten atomically (:func:`e2e_mammo.io.atomic_write`, fsynced) after
every epoch. It holds the last epoch's model and optimizer states (to resume), the best epoch's
model state and score (the weights the run keeps), the number of finished epochs, the stage
index, the effective schedule (with any extension), the history, the RNG states and the run's
``identity``: a content hash of its inputs and training settings (:func:`identity_hash`).
A kill at any moment leaves either the previous complete file or the new one.

Restart rules (:func:`prepare`): a checkpoint of an interrupted run with the same identity is
resumed; a checkpoint of a finished run, or of another identity (other data, other settings),
is removed and the run starts afresh. So only an interrupted job resumes. A checkpoint that
cannot be read (a disk error, a copy cut short, another torch) is never deleted: its folder is
renamed to ``<folder>.unreadable-<UTC time>`` beside it, with a warning naming both paths, and
the run starts afresh; delete the renamed folder once nobody needs it.

Everything is stored as plain types and tensors, so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from e2e_mammo.io import atomic_write, file_sha256

FILE = "checkpoint.pt"
FORMAT_VERSION = 2

log = logging.getLogger(__name__)


class CheckpointConfigError(ValueError):
    """A checkpoint belongs to another run (identity differs, or it is finished)."""


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through a temporary file, fsynced, renamed over ``path``."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp), fsync=True)


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by this module (CPU tensors)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def normalise_config(config: Any) -> Any:
    """JSON round trip: tuples -> lists, keys -> str; raises on non-JSON values."""
    return json.loads(json.dumps(config, sort_keys=True))


def identity_hash(inputs: Iterable[str | Path], settings: Mapping[str, Any]) -> str:
    """The identity of a run: SHA-256 over its input files' contents and its settings."""
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in inputs):
        digest.update(f"{Path(path).name}:{file_sha256(path)}\n".encode())
    digest.update(json.dumps(normalise_config(dict(settings)), sort_keys=True).encode())
    return digest.hexdigest()


def _move_aside(folder: Path, why: str) -> Path:
    """Rename ``folder`` to a free ``<folder>.unreadable-<UTC time>[-n]`` beside it; returns
    the new path after logging a warning that names both."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = folder.with_name(f"{folder.name}.unreadable-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = folder.with_name(f"{folder.name}.unreadable-{stamp}-{n}")
    folder.rename(aside)
    log.warning(
        "%s: unreadable checkpoint (%s), not resumed and not deleted: moved to %s; training "
        "afresh (delete that folder once nobody needs it)",
        folder / FILE,
        why,
        aside,
    )
    return aside


def prepare(checkpoint_dir: str | Path, identity: str) -> str:
    """Apply the restart rules; return ``"resume"`` or ``"fresh"`` (the folder then is empty;
    an unreadable checkpoint's folder was moved aside, see the module doc)."""
    folder = Path(checkpoint_dir)
    path = folder / FILE
    if path.is_file():
        try:
            state = load(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint is never resumed
            _move_aside(folder, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
            folder.mkdir(parents=True)
            return "fresh"
        same = state.get("identity") == identity and state.get("format") == FORMAT_VERSION
        if same and not state.get("completed"):
            return "resume"
        why = "finished run" if same else "other inputs or settings"
        log.info("%s: not resumed (%s); training afresh", path, why)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return "fresh"


def rng_states() -> dict[str, Any]:
    """The global torch (CPU, and CUDA when available), numpy and python RNG states."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
