"""Where a training job runs: a device choice that never changes a result (so never reruns a job).

* ``E2E_MAMMO_DEVICE`` (``cuda``, ``cuda:1``, ``mps``, ``cpu``), when set, wins over the job's
  ``device`` argument; ``auto`` (the default) takes CUDA, else Apple's MPS, else the CPU.
* Several GPUs: Snakemake's ``--resources gpu=N`` runs N GPU jobs at once but tells none of them
  which GPU is its own, so ``auto`` claims one: the first GPU whose lock file
  (``gpu<i>.lock`` in ``E2E_MAMMO_GPU_LOCKS``, default a per-user folder of the temporary
  directory) no other live job holds, held by an ``flock`` for the job's lifetime (the operating
  system releases it when the process ends, also on a crash). With every GPU taken (more jobs
  than GPUs), the process id picks one.

The lock files need no torch (imported on first use by :func:`pick_device`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
DEVICE_ENV = "E2E_MAMMO_DEVICE"
LOCKS_ENV = "E2E_MAMMO_GPU_LOCKS"
#: The lock files this process holds (kept open: closing one releases its GPU).
_HELD: dict[int, int] = {}


def lock_folder() -> Path:
    """Where the GPU lock files live (``E2E_MAMMO_GPU_LOCKS`` or a per-user temporary folder)."""
    folder = (
        os.environ.get(LOCKS_ENV) or Path(tempfile.gettempdir()) / f"e2e-mammo-gpus-{os.getuid()}"
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def claim_gpu(count: int) -> int:
    """The index of a GPU of ``count`` that no other live job of this user holds (0 with one
    GPU); this process keeps holding it until it ends."""
    if count <= 1:
        return 0
    if _HELD:
        return next(iter(_HELD))
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the process id spreads the jobs
        return os.getpid() % count
    folder = lock_folder()
    for index in range(count):
        fd = os.open(folder / f"gpu{index}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _HELD[index] = fd
        return index
    index = os.getpid() % count
    log.warning("all %d GPUs are held by other jobs: sharing GPU %d", count, index)
    return index


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(device: str = "auto") -> torch.device:
    """``E2E_MAMMO_DEVICE`` if set, else ``device``; ``auto``: a claimed CUDA GPU
    (:func:`claim_gpu`), else MPS, else the CPU."""
    import torch

    requested = os.environ.get(DEVICE_ENV) or device
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")
