"""Where a training job runs: a device choice that never changes a result (so never reruns a job).

* ``E2E_MAMMO_DEVICE`` (``cuda``, ``cuda:1``, ``mps``, ``cpu``), when set, wins over the job's
  ``device`` argument; ``auto`` (the default) takes CUDA, else Apple's MPS, else the CPU.
* Several GPUs: Snakemake's ``--resources gpu=N`` runs N GPU jobs at once but tells none of them
  which GPU is its own, so ``auto`` claims one: the first GPU whose lock file
  (``gpu<i>.lock`` in ``E2E_MAMMO_GPU_LOCKS``, default a per-user folder of the temporary
  directory) no other live job holds, held by an ``flock`` for the job's lifetime (the operating
  system releases it when the process ends, also on a crash). With every GPU taken (more jobs
  than GPUs), the process id picks one.

* Paper-scale training on the CPU is refused, loudly: a training job's adapter script records
  ``scale.name`` (:func:`set_scale`, as ``E2E_MAMMO_SCALE``: run time only, it reruns nothing),
  and at ``paper`` a job that would train on the CPU stops naming the switch that forces it
  (``E2E_MAMMO_ALLOW_CPU=1``).

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
SCALE_ENV = "E2E_MAMMO_SCALE"
ALLOW_CPU_ENV = "E2E_MAMMO_ALLOW_CPU"
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
        chosen = torch.device(requested)
    elif torch.cuda.is_available():
        chosen = torch.device("cuda", claim_gpu(torch.cuda.device_count()))
    elif _mps_available():
        chosen = torch.device("mps")
    else:
        chosen = torch.device("cpu")
    check_not_paper_on_cpu(chosen.type)
    return chosen


def set_scale(config: dict) -> None:
    """Record the workflow config's ``scale.name`` for this job's :func:`pick_device`."""
    os.environ[SCALE_ENV] = str(config["scale"]["name"])


def check_not_paper_on_cpu(device_type: str) -> None:
    """Refuse a training job on the CPU at the paper's scale (``E2E_MAMMO_SCALE=paper``) unless
    ``E2E_MAMMO_ALLOW_CPU=1``: the paper's matrix would take weeks there."""
    if device_type != "cpu" or os.environ.get(SCALE_ENV) != "paper":
        return
    if os.environ.get(ALLOW_CPU_ENV) == "1":
        log.warning("paper-scale training on the CPU, forced by %s=1", ALLOW_CPU_ENV)
        return
    raise RuntimeError(
        "refusing to train at the paper's scale (scale.name: paper) on the CPU: no CUDA or MPS "
        f"device was found (or {DEVICE_ENV} asks for the CPU). Run on a GPU machine, or set "
        f"{ALLOW_CPU_ENV}=1 to force it"
    )
