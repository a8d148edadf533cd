"""How the package starts worker processes (loader workers, the converter's pool): ``forkserver``
where the platform has it (Linux and the other POSIX systems), else ``spawn`` (Windows).

Never ``fork``: a forked child of a process that used OpenCV's thread pool can hang in
``cv2.resize`` (reproduced here), the known OpenCV thread-pool-after-fork problem.
"""

from __future__ import annotations

import multiprocessing


def start_method(available: list[str] | None = None) -> str:
    """``forkserver`` if among ``available`` (default: this platform's start methods), else
    ``spawn``."""
    methods = multiprocessing.get_all_start_methods() if available is None else available
    return "forkserver" if "forkserver" in methods else "spawn"
