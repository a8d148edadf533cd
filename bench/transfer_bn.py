"""Batch-norm statistics in INbreast fine-tuning: ``patch_bn: fixed`` against ``batch``.

The paper's thesis is that adapting to another intensity profile is the easy part; frozen
CBIS-DDSM batch-norm statistics in the patch layers (``fixed``) may make that harder, and the
authors' Keras code updates them (``batch``). This runs, from a finished pipeline (``make run``),
the Table 4 cells of the CBIS-DDSM ensemble's members at one size and seed twice, side by side,
with exactly the pipeline's settings (params.yaml, plus ``--params`` files merged over it) but
``transfer.patch_bn`` set to ``fixed`` and to ``batch``, into a scratch folder (MLflow off), and
prints each member's INbreast validation AUC under both, the difference batch - fixed with its
95% patient-level paired bootstrap interval (:mod:`e2e_mammo.evaluation.paired`) and the mean.

    .venv/bin/python bench/transfer_bn.py                       # the demo's smallest size
    .venv/bin/python bench/transfer_bn.py --size 40 --out /tmp/bn
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from e2e_mammo.config import data_kind, load_yaml
from e2e_mammo.evaluation.paired import paired_auc_difference
from e2e_mammo.plan.members import read_members
from e2e_mammo.plan.sizes import scaled_patch_size
from e2e_mammo.plan.transfer_cells import TransferCell, TransferCellSettings, transfer_settings
from e2e_mammo.plan.whole_rows import network_settings
from e2e_mammo.tracking import TrackingConfig
from e2e_mammo.training.transfer_stage import TransferInputs, fine_tune_cell

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("fixed", "batch")


def _merged(paths: list[Path]) -> dict:
    """params.yaml with each ``--params`` file merged over it (one level deep, as a profile)."""
    config = load_yaml(ROOT / "params.yaml")
    for path in paths:
        for key, value in load_yaml(path).items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
    return config


def _row(config: dict, name: str) -> dict:
    return next(r for r in config["table2"] + config["table3"] if r["row"] == name)


def _settings(
    config: dict, model: str, patch_row: str, size: str, seed: int, bn: str
) -> TransferCellSettings:
    patches = config["patches"]
    size_hw = config["convert"]["size"]
    patch_size = scaled_patch_size(patches["size"], size_hw[0], patches["reference_height"])
    network = network_settings(
        _row(config, model), config["whole_image"], patch_row, size_hw, patch_size
    )
    return transfer_settings(
        TransferCell(init="whole_image", network=network, size=size, seed=seed),
        transfer=dict(config["transfer"], patch_bn=bn),
        whole=config["whole_image"],
        augment=config["patch_training"]["augment"],
    )


def run_cell(config: dict, pipeline: Path, model: str, bn: str, args, out: Path) -> pd.DataFrame:
    """Fine-tune one member with ``patch_bn: bn``; its validation predictions."""
    result = json.loads((pipeline / f"results/whole_models/{model}/result.json").read_text())
    settings = _settings(config, model, result["patch_model"], args.size, args.seed, bn)
    inputs = TransferInputs(
        splits_csv=pipeline / "results/splits/inbreast/splits.csv",
        manifest_csv=pipeline / "results/converted/inbreast/manifest.csv",
        mean_json=pipeline / "results/stats/inbreast/mean.json",
        init_model=pipeline / f"results/whole_models/{model}/model.pt",
        out_dir=out / bn / model,
        intensity=config["convert"]["intensity"],
        data=data_kind(config, "cbis_ddsm", "inbreast"),
    )
    fine_tune_cell(model, settings, inputs, tracking=TrackingConfig(enabled=False), threads=2)
    return pd.read_csv(inputs.out_dir / "predictions.csv")


def compare(frames: dict[str, pd.DataFrame], n_boot: int, seed: int) -> dict:
    """AUC under both settings and batch - fixed with its paired interval."""
    fixed, batch = frames["fixed"], frames["batch"]
    both = fixed.merge(batch, on="image_id", suffixes=("_f", "_b"), validate="one_to_one")
    return paired_auc_difference(
        both["label_f"].to_numpy(),
        both["patient_id_f"].to_numpy(),
        [both["prob_malignant_b"].to_numpy()],
        [both["prob_malignant_f"].to_numpy()],
        n_boot=n_boot,
        seed=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=ROOT, help="a finished make run")
    parser.add_argument("--params", type=Path, nargs="*", default=[])
    parser.add_argument("--size", default=None, help="subset size (default: the smallest run)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    config = _merged(args.params)
    out = (args.out or Path(tempfile.mkdtemp(prefix="transfer-bn-"))).resolve()
    args.pipeline = args.pipeline.resolve()
    os.chdir(args.pipeline)  # the manifest's image paths are relative to the project folder
    sweep = config["transfer"]["sweep"]
    args.size = str(args.size or (sweep["run"] if sweep["run"] != "all" else sweep["sizes"])[0])
    args.seed = args.seed if args.seed is not None else int(sweep["seeds"][0])
    members = read_members(args.pipeline / "results/ensemble/cbis-ddsm/summary.json")
    boot = config["whole_image"]["bootstrap"]
    print(f"size {args.size}, seed {args.seed}, members {members}, scratch {out}")
    print("| member | AUC fixed | AUC batch | batch - fixed (95% paired CI) |")
    print("|---|---|---|---|")
    gaps = []
    for model in members:
        frames = {bn: run_cell(config, args.pipeline, model, bn, args, out) for bn in SETTINGS}
        stats = compare(frames, int(boot["n_boot"]), int(boot["seed"]))
        gaps.append(stats["difference"])
        print(
            f"| {model} | {stats['auc_b']:.3f} | {stats['auc_a']:.3f} | "
            f"{stats['difference']:+.3f} ({stats['ci_low']:+.3f} to {stats['ci_high']:+.3f}) |"
        )
    print(f"mean batch - fixed over {len(gaps)} members: {sum(gaps) / len(gaps):+.3f}")


if __name__ == "__main__":
    main()
