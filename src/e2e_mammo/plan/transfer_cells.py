"""Which Table 4 cells train: the models, the sizes, the control, and how a size that does not
train is described (the INbreast sweep's plan, read by the Snakemake rules).

A cell is ``(init, model, size, seed)``: ``init`` ``whole_image`` (a fine-tuned CBIS-DDSM model)
or ``patch_only`` (the control). The sweep's cells are every fine-tuned model and the control
at every size of ``transfer.sweep.run`` and every seed of ``transfer.sweep.seeds``; at the sizes
of ``transfer.control.seed_sizes`` both arms of the control's row (the control and the same row
fine-tuned from its CBIS-DDSM model) also run every seed of ``transfer.control.seeds``, so that
their comparison is more than one draw. A size listed in ``transfer.sweep.sizes`` but not run is
in Table 4 as ``not in demo``.

The control is a fair comparison: its new top layers start random, so they first get the
warm-up the CBIS-DDSM models had before transfer (``whole_image.schedule``'s first stage, new
layers only, at its rate and ``whole_image.epoch_scale``), then the transfer arm's fine-tuning.

:class:`TransferCellSettings` (:func:`transfer_settings`) is exactly what changes a cell's
result (the job is :mod:`e2e_mammo.training.transfer_stage`'s); it is here, torch-free, for the
workflow's parse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from e2e_mammo.plan.schedules import Stage, scale_schedule
from e2e_mammo.plan.settings import FitSettings, flat
from e2e_mammo.plan.whole_rows import NetworkSettings

ALL = "all"


def size_label(size: int | str) -> str:
    """The canonical text of a size: ``"20"`` or ``"all"`` (what paths and tables show)."""
    text = str(size).strip().lower()
    if text == ALL:
        return ALL
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"a subset size is a positive number of patients or 'all', got {size!r}")
    return str(int(text))


#: The one switch that trains every size (docs/parameters.md, "The paper profile").
SWEEP_SWITCH = "snakemake all --profile profiles/paper (or transfer.sweep.run: all)"
FIRST_MEMBER = "first_member"
#: A cell's starting model, and how its reported epoch is chosen.
INITS = ("whole_image", "patch_only")
SELECTIONS = ("last", "inner_val")


def run_sizes(transfer: Mapping[str, Any]) -> list[str]:
    """The size labels that train, in the order of ``transfer.sweep.sizes``."""
    sweep = transfer["sweep"]
    sizes = [size_label(s) for s in sweep["sizes"]]
    if sweep["run"] == "all":
        return sizes
    wanted = [size_label(s) for s in sweep["run"]]
    unknown = sorted(set(wanted) - set(sizes))
    if unknown:
        raise ValueError(f"transfer.sweep.run lists sizes not in transfer.sweep.sizes: {unknown}")
    return [s for s in sizes if s in wanted]


def check_transfer(transfer: Mapping[str, Any], trained_rows: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the key when the ``transfer`` block cannot run."""
    sizes = run_sizes(transfer)
    if size_label(transfer["ensemble_size"]) not in sizes:
        raise ValueError(
            f"transfer.ensemble_size {transfer['ensemble_size']!r} is not a size that trains "
            f"(transfer.sweep.run: {sizes})"
        )
    seed_sizes = transfer["control"]["seed_sizes"]
    listed = [size_label(s) for s in transfer["sweep"]["sizes"]]
    stray = [] if seed_sizes == "all" else sorted({size_label(s) for s in seed_sizes} - set(listed))
    if stray:
        raise ValueError(
            f"transfer.control.seed_sizes lists sizes not in transfer.sweep.sizes: {stray}"
        )
    models = transfer["models"]
    named = [] if models == "ensemble" else list(models)
    control = transfer["control"]["row"]
    if control != FIRST_MEMBER:
        named.append(control)
    missing = sorted(set(named) - set(trained_rows))
    if missing:
        raise ValueError(
            f"transfer.models / transfer.control.row name rows that do not train here: {missing} "
            f"(rows that train: {sorted(trained_rows)})"
        )


def control_row(transfer: Mapping[str, Any], models: Sequence[str]) -> str:
    """The control's row: ``transfer.control.row``, or the first fine-tuned model."""
    row = transfer["control"]["row"]
    if row != FIRST_MEMBER:
        return str(row)
    if not models:
        raise ValueError("transfer.control.row: first_member, but no model is fine-tuned")
    return str(models[0])


def control_seed_sizes(transfer: Mapping[str, Any]) -> list[str]:
    """The sizes (that train) at which both arms of the control's row run every control seed."""
    wanted = transfer["control"]["seed_sizes"]
    sizes = run_sizes(transfer)
    if wanted == "all":
        return sizes
    labels = [size_label(s) for s in wanted]
    return [s for s in sizes if s in labels]


def _seeds(transfer: Mapping[str, Any], size: str, both_arms: bool) -> list[int]:
    seeds = [int(s) for s in transfer["sweep"]["seeds"]]
    if both_arms and size in control_seed_sizes(transfer):
        seeds += [int(s) for s in transfer["control"]["seeds"] if int(s) not in seeds]
    return seeds


def sweep_cells(
    transfer: Mapping[str, Any], models: Sequence[str]
) -> list[tuple[str, str, str, int]]:
    """Every ``(init, model, size, seed)`` that trains: the models, then the control."""
    sizes = run_sizes(transfer)
    control = control_row(transfer, models)
    cells = [
        ("whole_image", m, s, seed)
        for m in models
        for s in sizes
        for seed in _seeds(transfer, s, m == control)
    ]
    cells += [("patch_only", control, s, seed) for s in sizes for seed in _seeds(transfer, s, True)]
    return cells


def cell_dir(init: str, model: str, size: str, seed: int) -> str:
    """The folder of one cell's outputs."""
    return f"results/transfer/{init}/{model}/n{size_label(size)}-s{int(seed)}"


def paper_table4(table4: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """params.yaml's ``table4`` keyed by size label (what the table writer reads)."""
    return {
        size_label(row["size"]): {k: v for k, v in row.items() if k != "size"} for row in table4
    }


#: What Table 4 says of a size that did not train.
NOT_RUN_NOTE = f"not fine-tuned by the demo; to run it: {SWEEP_SWITCH}"


def cell_schedule(
    init: str, transfer: Mapping[str, Any], whole: Mapping[str, Any]
) -> tuple[Stage, ...]:
    """A cell's training stages: the fine-tuning (all layers, ``transfer.lr``, ``epochs`` at
    ``epoch_scale``), after, for the control, the warm-up of its new layers that the CBIS-DDSM
    models had (``whole_image.schedule``'s first stage at ``whole_image.epoch_scale``)."""
    stage = {
        "name": "fine_tune",
        "trainable": "all",
        "lr": transfer["lr"],
        "weight_decay": transfer["weight_decay"],
        "epochs": transfer["epochs"],
    }
    stages = scale_schedule([stage], transfer["epoch_scale"])
    if init == "patch_only":
        warmup = dict(whole["schedule"][0], name="warm_up")
        stages = scale_schedule([warmup], whole["epoch_scale"]) + stages
    return tuple(stages)


@dataclass(frozen=True)
class TransferCell:
    """One cell of the INbreast sweep: how it starts (``init``: the fine-tuned CBIS-DDSM model
    or the control on its patch classifier), the ``network`` of its Table 2/3 row, the
    training-subset ``size`` and the ``seed``."""

    init: str
    network: NetworkSettings
    size: int | str
    seed: int


@dataclass(frozen=True)
class TransferCellSettings:
    """Everything that changes one Table 4 cell's result, and nothing else: how it starts
    (``init``), its network, schedule, batch size, which weights decay, the patch layers'
    batch-norm handling, how the kept epoch is chosen (``select``, ``inner_val_frac``), the
    subset (``size`` of ``reference_patients``, ``seed``), whether the reported split is scored
    with flip TTA, the augmentation and the bootstrap of its intervals."""

    init: str
    network: NetworkSettings = flat()
    schedule: tuple[Stage, ...]
    batch_size: int
    decay: str
    patch_bn: str
    select: str
    inner_val_frac: float
    size: str
    reference_patients: int
    seed: int
    tta: bool
    augment: Mapping[str, Any]
    bootstrap: Mapping[str, Any]

    @property
    def fit(self) -> FitSettings:
        """How the cell trains: the last epoch (``select: last``) or the best inner-validation
        AUC (``inner_val``)."""
        return FitSettings(
            schedule=self.schedule,
            seed=self.seed,
            monitor="last" if self.select == "last" else "val_auc",
            augment=self.augment,
            decay=self.decay,
            fixed_bn=self.patch_bn == "fixed",
        )


def transfer_settings(
    cell: TransferCell,
    *,
    transfer: Mapping[str, Any],
    whole: Mapping[str, Any],
    augment: Mapping[str, Any],
) -> TransferCellSettings:
    """Everything that changes one cell's result, and nothing else.

    ``transfer`` is params.yaml's ``transfer`` block, ``whole`` its ``whole_image`` block
    (decay, batch-norm handling, warm-up), ``augment`` the patch training's augmentation.
    """
    if cell.init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {cell.init!r}")
    if transfer["select"] not in SELECTIONS:
        raise ValueError(f"transfer.select must be one of {SELECTIONS}, got {transfer['select']!r}")
    label = size_label(cell.size)
    return TransferCellSettings(
        init=cell.init,
        network=cell.network,
        schedule=cell_schedule(cell.init, transfer, whole),
        batch_size=int(transfer["batch_size"]),
        decay=whole["decay"],
        patch_bn=transfer.get("patch_bn") or whole["patch_bn"],
        select=transfer["select"],
        inner_val_frac=float(transfer["inner_val_frac"]),
        size=label,
        reference_patients=int(transfer["sweep"]["reference_patients"]),
        seed=int(cell.seed),
        tta=cell.init == "whole_image" and label == size_label(transfer["ensemble_size"]),
        augment=dict(augment),
        bootstrap=dict(whole["bootstrap"]),
    )
