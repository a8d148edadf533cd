"""The machine's reference figure: ms per ResNet50 training step at the demo's sizes.

Timings of ``make run`` and ``make test`` differ between machines by 2x and more (CPU model,
frequency, what else runs). Every timing in docs/measurements.md therefore comes with this
figure from the same machine, so that two timings can be compared through it: a machine whose
steps take twice as long runs the demo's training about twice as long.

Two steps, each a plain forward / cross-entropy / backward / Adam step of torchvision's
ResNet50 on random tensors (no data loading), fp32, ``--threads`` intra-op threads:

* patch: a batch of 32 single-channel-as-3 patches of 50x50 (the demo's patch side), the
  channels_last memory format the patch stage uses on CPU;
* whole: a batch of 2 images of 256x192 (the demo's image size), contiguous (the whole-image
  stages' format on CPU).

Prints the median ms per step of ``--steps`` steps after 3 warm-up steps, and the CPU model.
This is an absolute figure, not a ratio: it is the yardstick the other timings are read against.

``--layouts`` also times each step in the other memory format, the two interleaved step by
step, and prints the ratio: the measurement behind the patch stage's channels_last on CPU
(and contiguous whole images there).

    .venv/bin/python bench/reference.py
    .venv/bin/python bench/reference.py --layouts
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.models import resnet50

#: (name, batch, height, width, channels_last): the demo's patch and whole-image steps.
STEPS = (("patch", 32, 50, 50, True), ("whole", 2, 256, 192, False))


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _step_fn(batch: int, height: int, width: int, channels_last: bool):
    """One seeded ResNet50 and a closure that runs one training step on a random batch."""
    torch.manual_seed(0)
    model = resnet50(num_classes=5)
    x = torch.randn(batch, 3, height, width)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) % 5
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def ms_per_step(
    batch: int, height: int, width: int, layouts: tuple[bool, ...], steps: int
) -> list[float]:
    """Median wall ms of one ResNet50 training step per memory layout (``True``:
    channels_last), the layouts' steps interleaved so that both see the same machine."""
    fns = [_step_fn(batch, height, width, cl) for cl in layouts]
    times: list[list[float]] = [[] for _ in layouts]
    for i in range(3 + steps):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            if i >= 3:
                out.append(time.perf_counter() - start)
    return [1000 * statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (2)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per figure (10)")
    parser.add_argument(
        "--layouts", action="store_true", help="also time the other memory format, side by side"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, {args.threads} threads")
    for name, batch, height, width, channels_last in STEPS:
        layouts = (channels_last, not channels_last) if args.layouts else (channels_last,)
        ms = ms_per_step(batch, height, width, layouts, args.steps)
        print(
            f"reference {name}: ResNet50 training step, batch {batch} at {height}x{width} "
            f"({_layout(channels_last)}): {ms[0]:.0f} ms/step, {1000 * batch / ms[0]:.1f} images/s"
        )
        if args.layouts:
            print(
                f"  {_layout(not channels_last)}, interleaved: {ms[1]:.0f} ms/step; the stage's "
                f"layout is {ms[1] / ms[0]:.2f}x as fast"
            )


def _layout(channels_last: bool) -> str:
    return "channels_last" if channels_last else "contiguous"


if __name__ == "__main__":
    main()
