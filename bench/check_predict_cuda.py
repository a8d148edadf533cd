"""CUDA path check of ``e2e-mammo predict``: the same scores as on CPU, speed and memory.

Makes one synthetic 3328x2560 16-bit DICOM mammogram and a four-member ensemble bundle at the
paper's 1152x896 (ResNet50 patch layers + "[512-512-1024] x 2" tops, random init, seeds 0-3),
then runs :func:`e2e_mammo.predict.run.predict`:

1. on CPU and on CUDA for the one image: prints both malignant scores and heatmap maxima and
   their largest difference (float32 on both: expected ~1e-5 or less);
2. on CUDA for 8 copies of the image at batch sizes 1, 4 and 8: seconds per image once warm and
   the peak GPU memory of each.

    PYTHONPATH=src python bench/check_predict_cuda.py        # needs a CUDA device
    PYTHONPATH=src python bench/check_predict_cuda.py --quick  # 288x224, one member
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_predict import make_bundle, make_image  # noqa: E402

from e2e_mammo.models.bundle import save_ensemble_bundle  # noqa: E402
from e2e_mammo.predict.run import PredictOptions, predict  # noqa: E402


def scores(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "image_predictions.csv").set_index("image_index")


def compare_devices(image: Path, bundle: Path, folder: Path) -> None:
    results = {}
    for device in ("cpu", "cuda"):
        out = folder / f"cmp-{device}"
        t = time.perf_counter()
        predict([image], out, bundle, PredictOptions(device=device, progress=False))
        results[device] = scores(out)
        print(
            f"{device}: 1 image end to end (bundle load included) {time.perf_counter() - t:.2f} s"
        )
    cpu, cuda = results["cpu"], results["cuda"]
    for column in ("malignant_pred", "heatmap_max"):
        diff = (cpu[column] - cuda[column]).abs().max()
        print(
            f"{column}: cpu {cpu[column].iloc[0]:.6f} cuda {cuda[column].iloc[0]:.6f} "
            f"max |diff| {diff:.2e}"
        )


def batch_sizes(image: Path, bundle: Path, folder: Path, n: int = 8) -> None:
    inputs = folder / "many"
    inputs.mkdir()
    for i in range(n):
        shutil.copy(image, inputs / f"{i}_L_CC{image.suffix}")
    from e2e_mammo.models.bundle import load_bundle

    loaded = load_bundle(bundle)
    for batch in (1, 4, 8):
        options = PredictOptions(device="cuda", batch_size=batch, progress=False)
        predict([inputs], folder / f"warm{batch}", loaded, options)  # warm-up (cuDNN choice)
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
        t = time.perf_counter()
        summary = predict([inputs], folder / f"b{batch}", loaded, options)
        seconds = time.perf_counter() - t
        peak = torch.cuda.max_memory_allocated() / 2**20
        print(
            f"batch {batch}: {summary['scored']} images, {seconds / n * 1000:.0f} ms/image, "
            f"peak GPU memory {peak:,.0f} MiB"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    size, shape, members = (
        ((288, 224), (832, 640), 1) if args.quick else ((1152, 896), (3328, 2560), 4)
    )
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, model input {size}, "
        f"{members} members"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = make_image(folder, shape, "dicom")
        parts = []
        for seed in range(members):
            sub = folder / f"m{seed}"
            sub.mkdir()
            parts.append((f"m{seed}", make_bundle(sub, size, seed)))
        bundle = save_ensemble_bundle(
            folder / "bundle.pt", parts, {"source": "check", "data": "none"}
        )
        compare_devices(image, bundle, folder)
        batch_sizes(image, bundle, folder)


if __name__ == "__main__":
    main()
