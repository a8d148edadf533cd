"""File times of the pipeline's outputs after ``dvc pull`` / ``dvc checkout``.

Snakemake reruns a job whose input file is newer than its output, and a job whose script is
newer than its output; DVC restores files with the time of the checkout, in no particular
order (dvc#8602), so after a pull Snakemake would rebuild what is already there. DVC versions
Snakemake's own records (``.snakemake/metadata``: for each output, the job's inputs and the
time it ended), and :func:`restore_output_times` uses them: when some recorded output is older
than one of its recorded inputs, every recorded output that exists is re-stamped, in the order
the jobs ended, within the last moments before now (so after the checked-out scripts too). A
consistent workspace (every normal run) is left untouched, so DVC's hash cache stays valid.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

#: The gap between two re-stamped outputs, in seconds (keeps the jobs' order exact).
STEP_S = 0.001


@dataclass(frozen=True)
class Record:
    """One output's Snakemake record: its path, the job's inputs and when the job ended."""

    path: str
    inputs: tuple[str, ...]
    endtime: float


def _decode(relative: Path) -> str:
    """The output path a record file stands for (Snakemake: URL-safe base64, long names split
    into ``@``-prefixed folders)."""
    encoded = "".join(part.removeprefix("@") for part in relative.parts)
    return base64.urlsafe_b64decode(encoded).decode()


def read_records(metadata_dir: str | Path) -> list[Record]:
    """The finished jobs' records under ``metadata_dir`` (unreadable or incomplete ones are
    skipped: they say nothing about a finished output)."""
    root = Path(metadata_dir)
    records = []
    for file in (p for p in root.rglob("*") if p.is_file()):
        try:
            data = json.loads(file.read_text())
            path = _decode(file.relative_to(root))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if data.get("incomplete") or data.get("endtime") is None:
            continue
        inputs = tuple(str(i) for i in data.get("input") or ())
        records.append(Record(path, inputs, float(data["endtime"])))
    return records


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def inconsistent(records: list[Record]) -> bool:
    """Whether some recorded output is older than one of its inputs that is itself a recorded
    output (what makes Snakemake rerun a job after a checkout)."""
    produced = {r.path for r in records}
    for record in records:
        made = _mtime(record.path)
        if made is None:
            continue
        for name in record.inputs:
            if name in produced and (used := _mtime(name)) is not None and used > made:
                return True
    return False


def restore_output_times(
    metadata_dir: str | Path,
    now: float | None = None,
    companions: tuple[str | Path, ...] = ("benchmarks",),
) -> int:
    """Re-stamp the recorded outputs in the order their jobs ended if their times contradict
    the records; return how many files were re-stamped (0 when consistent).

    Files under ``companions`` (the jobs' ``benchmark:`` files, which Snakemake counts among a
    job's outputs but records nowhere) are stamped ``now``, after every output, so that they
    never make a job look older than its inputs."""
    records = read_records(metadata_dir)
    if not inconsistent(records):
        return 0
    now = time.time() if now is None else now
    existing = sorted((r for r in records if _mtime(r.path) is not None), key=lambda r: r.endtime)
    start = now - STEP_S * (len(existing) + 1)
    for rank, record in enumerate(existing):
        stamp = start + STEP_S * rank
        os.utime(record.path, (stamp, stamp))
    for folder in companions:
        for file in (p for p in Path(folder).rglob("*") if p.is_file()):
            os.utime(file, (now, now))
    return len(existing)
