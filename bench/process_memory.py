"""The benchmark process's own memory on the CPU: current and peak resident set, and a reset of
the peak (Linux), shared by bench_memory.py and paper_scale.py."""

from __future__ import annotations

import os
import resource
import sys


def current_rss() -> int | None:
    """Bytes resident now (Linux ``/proc/self/statm``); None where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def peak_rss() -> int:
    """Peak resident bytes of this process (``getrusage``), since start or the last reset."""
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
