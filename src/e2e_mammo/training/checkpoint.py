"""Checkpoints of a staged training run: ``last.pt`` (resume) and ``best.pt`` (best weights).

``last.pt`` is rewritten atomically (temporary file + ``os.replace``) after every epoch and holds
the model and optimizer states, the number of finished epochs, the stage index, the history, the
best epoch and accuracy, the RNG states (torch, numpy, python) and the run's config. When the
run finishes it is written once more with ``completed=True`` and the final result, so a rerun
returns that result without training. ``best.pt`` holds the model state of the best epoch.

Everything is stored as plain types and tensors so that ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

LAST = "last.pt"
BEST = "best.pt"
FORMAT_VERSION = 1


class CheckpointConfigError(ValueError):
    """A checkpoint was written by a run with another config; the message lists the keys."""


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by this module (CPU tensors)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


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


def normalise_config(config: Any) -> Any:
    """JSON round trip: tuples -> lists, keys -> str; raises on non-JSON values."""
    return json.loads(json.dumps(config, sort_keys=True))


def check_config(saved: dict[str, Any], current: dict[str, Any], path: str | Path) -> None:
    """Raise :class:`CheckpointConfigError` naming every key whose value differs."""
    saved, current = normalise_config(saved), normalise_config(current)
    if saved == current:
        return
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            diffs.append(f"{key}: checkpoint {saved.get(key)!r} != now {current.get(key)!r}")
    raise CheckpointConfigError(
        f"{path}: this checkpoint belongs to a run with another config; refusing to resume. "
        f"Differences: {'; '.join(diffs)}. Delete the checkpoint folder (or use another one) "
        f"to start a new run."
    )
