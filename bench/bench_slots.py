"""Training jobs side by side: one job on every core against several one-core jobs at once.

``make run`` on the CPU runs ``DEMO_SLOTS`` training jobs at once (Makefile), each with
``CORES / DEMO_SLOTS`` threads. This bench measures whether that pays, per kind of step: it runs
the reference steps of :mod:`reference` (a ResNet50 training step at the demo's patch and whole-
image sizes, and the whole-image forward pass that scoring runs) first as one process with
``--cores`` threads, then as ``--slots`` processes of ``cores / slots`` threads started together,
and prints the images per second of each and their ratio (slots / one; above 1 means running side
by side gets more done in the same time)::

    .venv/bin/python bench/bench_slots.py                 # 2 cores, 2 slots, 8 steps each
    .venv/bin/python bench/bench_slots.py --steps 12 --kinds whole score

Nothing else should run on the machine meanwhile: the figure is a throughput of the whole CPU.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import _step_fn, cpu_model  # noqa: E402

#: kind -> (batch, height, width, channels_last, training): the demo's patch and whole-image
#: training steps (as bench/reference.py) and a whole-image forward pass in eval mode (scoring).
KINDS = {
    "patch": (32, 50, 50, True, True),
    "whole": (2, 256, 192, False, True),
    "score": (2, 256, 192, False, False),
}


def _forward_fn(batch: int, height: int, width: int):
    """A seeded ResNet50 in eval mode and a closure scoring one random batch without grad."""
    from torchvision.models import resnet50

    torch.manual_seed(0)
    model = resnet50(num_classes=5).eval()
    x = torch.randn(batch, 3, height, width)

    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def _worker(kind: str, threads: int, steps: int, start, queue) -> None:
    """Run ``steps`` timed steps (after 2 warm-ups) of ``kind`` once ``start`` is set; put the
    wall seconds of the timed steps on ``queue``."""
    torch.set_num_threads(threads)
    batch, height, width, channels_last, training = KINDS[kind]
    step = (
        _step_fn(batch, height, width, channels_last)
        if training
        else _forward_fn(batch, height, width)
    )
    for _ in range(2):
        step()
    start.wait()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    queue.put(time.perf_counter() - began)


def images_per_second(kind: str, processes: int, threads: int, steps: int) -> float:
    """Images per second of ``processes`` processes of ``threads`` threads each, all running
    ``steps`` steps of ``kind`` at once (timed from a common start; the slowest one counts)."""
    ctx = mp.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(kind, threads, steps, start, queue))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(20)  # every process built its model and warmed up before the common start
    start.set()
    seconds = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return processes * steps * KINDS[kind][0] / max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2, help="cores of the machine (2)")
    parser.add_argument("--slots", type=int, default=2, help="jobs side by side (2)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per process (8)")
    parser.add_argument(
        "--kinds", nargs="+", choices=sorted(KINDS), default=list(KINDS), help="step kinds"
    )
    args = parser.parse_args()
    per_slot = max(1, args.cores // args.slots)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}")
    for kind in args.kinds:
        one = images_per_second(kind, 1, args.cores, args.steps)
        side = images_per_second(kind, args.slots, per_slot, args.steps)
        batch, height, width, _, training = KINDS[kind]
        what = "training step" if training else "forward pass (eval)"
        print(
            f"{kind}: ResNet50 {what}, batch {batch} at {height}x{width}: one job x "
            f"{args.cores} threads {one:.2f} images/s; {args.slots} jobs x {per_slot} threads "
            f"{side:.2f} images/s; ratio {side / one:.2f}"
        )


if __name__ == "__main__":
    main()
