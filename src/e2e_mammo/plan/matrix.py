"""The paper's experiment matrix for one validated config: every row and cell, which of them
train here, and each job's typed settings. Built once at the workflow's parse
(``PLAN = ExperimentPlan.from_config(config)`` in ``workflow/rules/common.smk``), whose rules
only wire files to it.

* Table 1 (:mod:`.patch_rows`): a row trains when its ImageNet weights, if it asks for them, are
  on disk; the other rows are recorded as not run, with the file to put where.
* Tables 2 and 3 (:mod:`.whole_rows`): a row trains when ``whole_image.rows`` selects it and
  its patch classifier trained; the two-step row fits a random forest instead.
* Table 4 (:mod:`.transfer_cells`): the cells of the INbreast sweep, per fine-tuned model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from e2e_mammo.config import data_kind
from e2e_mammo.plan.evaluations import (
    ClaimSettings,
    EnsembleSettings,
    LocalisationSettings,
    OverlaySettings,
    paper_numbers,
    paper_table4_aucs,
)
from e2e_mammo.plan.patch_rows import (
    PatchRowSettings,
    choose_pretrained,
    not_in_demo_reason,
    row_training_settings,
    selected_patch_rows,
)
from e2e_mammo.plan.sizes import scaled_patch_size
from e2e_mammo.plan.transfer_cells import (
    SWEEP_SWITCH,
    TransferCell,
    TransferCellSettings,
    cell_dir,
    check_transfer,
    sweep_cells,
    transfer_settings,
)
from e2e_mammo.plan.whole_rows import (
    PAPER_SWITCH,
    NetworkSettings,
    PatchChoice,
    TwoStepSettings,
    WholeRowSettings,
    check_row_names,
    choose_patch_row,
    network_settings,
    not_run_reason,
    row_meta,
    row_status,
    two_step_settings,
    whole_training_settings,
)

#: What a Table 1 row that does not train records of itself.
NOT_RUN_ROW_KEYS = ("row", "arch", "patch_set", "pretrained")
#: What a Table 2/3 row that does not train records of itself.
NOT_RUN_WHOLE_KEYS = ("row", "arch", "patch_set", "top")


def _paper_numbers(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k.startswith("paper_")}


@dataclass(frozen=True)
class ExperimentPlan:
    """The experiment matrix of one validated ``params.yaml`` (see the module doc)."""

    config: Mapping[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ExperimentPlan:
        """The plan of a validated config; raises ``ValueError`` naming the key when a row name
        is in no table or the ``transfer`` block cannot run."""
        check_row_names(config)
        plan = cls(config)
        check_transfer(config["transfer"], plan.end_to_end_rows)
        return plan

    # sizes ------------------------------------------------------------------------------
    @cached_property
    def image_size(self) -> tuple[int, int]:
        """``convert.size``: the converted images' (height, width)."""
        height, width = self.config["convert"]["size"]
        return int(height), int(width)

    @cached_property
    def patch_size(self) -> int:
        """The patch side scaled to ``convert.size`` (``patches.reference_height``)."""
        patches = self.config["patches"]
        return scaled_patch_size(
            patches["size"], self.config["convert"]["size"][0], patches["reference_height"]
        )

    def patch_sampling(self, patch_set: str) -> dict[str, Any]:
        """Sampling settings of one patch set, with the patch side scaled to ``convert.size``."""
        patches = self.config["patches"]
        return dict(
            patches["sets"][patch_set],
            patch_size=self.patch_size,
            min_overlap=patches["min_overlap"],
            min_breast_fraction=patches["min_breast_fraction"],
            seed=patches["seed"],
        )

    def split_settings(self, dataset: str) -> dict[str, Any]:
        """Split settings: CBIS-DDSM's paper/official mode; INbreast the patient holdout."""
        split = self.config["split"]
        if dataset == "cbis-ddsm":
            return dict(split["cbis_ddsm"], seed=split["seed"])
        return dict(
            mode="holdout",
            seed=split["seed"],
            test_frac=0.0,
            val_frac=split["inbreast"]["val_frac"],
            official_overlap="test",
        )

    # Table 1 ----------------------------------------------------------------------------
    @cached_property
    def table1(self) -> dict[str, Mapping[str, Any]]:
        """Table 1's rows by name."""
        return {row["row"]: row for row in self.config["table1"]}

    @cached_property
    def selected_rows(self) -> list[str]:
        """The Table 1 rows ``patch_training.rows`` selects (every row: ``all``)."""
        selected = self.config["patch_training"].get("rows", "all")
        return selected_patch_rows(self.config["table1"], selected)

    @cached_property
    def trained_rows(self) -> list[str]:
        """The selected Table 1 rows that train here (their ImageNet weights, if any, on disk)."""
        return [n for n in self.selected_rows if self._pretrained(n).skip_reason is None]

    @cached_property
    def not_run_rows(self) -> list[str]:
        """The Table 1 rows recorded as not run."""
        return [name for name in self.table1 if name not in self.trained_rows]

    def _pretrained(self, name: str):
        return choose_pretrained(self.table1[name], self.config["pretrained"])

    def patch_row(self, name: str) -> PatchRowSettings:
        """Exactly what changes one Table 1 row's result (never the paper's numbers)."""
        cfg = self.config
        return row_training_settings(self.table1[name], cfg["patch_training"], cfg["pretrained"])

    def patch_weights(self, name: str) -> list[str]:
        """The row's ImageNet weights file (replacing it retrains the row), or none."""
        weights = self._pretrained(name).weights
        return [str(weights)] if weights else []

    def patch_row_not_run(self, name: str) -> dict[str, Any]:
        """What a row that cannot run records to say why."""
        return {k: self.table1[name][k] for k in NOT_RUN_ROW_KEYS}

    def patch_row_left_out(self, name: str) -> str:
        """Why the demo leaves a row out (``patch_training.rows``), or ``""`` if it is selected."""
        return "" if name in self.selected_rows else not_in_demo_reason()

    def paper_table1(self) -> dict[str, dict[str, Any]]:
        """The paper's published Table 1 numbers, for the table only."""
        return {name: _paper_numbers(row) for name, row in self.table1.items()}

    # Tables 2 and 3 ---------------------------------------------------------------------
    @cached_property
    def whole(self) -> dict[str, dict[str, Any]]:
        """Tables 2 and 3's rows by name, each with its ``table``."""
        return {
            row["row"]: dict(row, table=table)
            for table, key in ((2, "table2"), (3, "table3"))
            for row in self.config[key]
        }

    def whole_table(self, table: int) -> list[str]:
        """The rows of Table 2 or 3, in order."""
        return [r["row"] for r in self.config[f"table{table}"]]

    def patch_choice(self, model: str) -> PatchChoice:
        """The Table 1 row (trained here) a whole-image row builds on."""
        row = self.whole[model]
        return choose_patch_row(
            self.config["table1"], self.trained_rows, row["arch"], row["patch_set"]
        )

    def whole_status(self, model: str) -> str:
        """``ok``, ``not in demo`` or ``not run`` (:func:`~.whole_rows.row_status`)."""
        selected = self.config["whole_image"]["rows"]
        return row_status(self.whole[model], selected, self.patch_choice(model))

    @cached_property
    def trained_whole(self) -> list[str]:
        """The Table 2/3 rows that train (the two-step row included)."""
        return [name for name in self.whole if self.whole_status(name) == "ok"]

    @cached_property
    def two_step_rows(self) -> list[str]:
        """The trained rows that are the two-step baseline."""
        return [n for n in self.trained_whole if self.whole[n]["top"]["type"] == "two_step"]

    @cached_property
    def end_to_end_rows(self) -> list[str]:
        """The trained rows that are end-to-end whole-image classifiers."""
        return [n for n in self.trained_whole if n not in self.two_step_rows]

    @cached_property
    def not_run_whole(self) -> list[str]:
        """The Table 2/3 rows recorded as not trained, with the reason."""
        return [n for n in self.whole if n not in self.trained_whole]

    def network(self, model: str) -> NetworkSettings:
        """A trained row's network on its patch classifier."""
        return network_settings(
            self.whole[model],
            self.config["whole_image"],
            self.patch_choice(model).row,
            self.image_size,
            self.patch_size,
        )

    def whole_row(self, model: str) -> WholeRowSettings:
        """Exactly what changes one Table 2/3 row's result (never the paper's numbers)."""
        cfg = self.config
        return whole_training_settings(
            self.whole[model],
            cfg["whole_image"],
            cfg["patch_training"]["augment"],
            self.network(model),
        )

    def two_step(self, model: str) -> TwoStepSettings:
        """Exactly what changes the two-step baseline's result."""
        bootstrap = self.config["whole_image"]["bootstrap"]
        return two_step_settings(self.config["two_step"], self.network(model), bootstrap)

    def whole_meta(self, model: str) -> dict[str, Any]:
        """The descriptive fields of a row's ``result.json``."""
        row = self.whole[model]
        return row_meta(row, row["table"], self.patch_choice(model))

    def whole_not_run(self, model: str) -> dict[str, Any]:
        """A row that does not train: its description, status and reason."""
        status = self.whole_status(model)
        return dict(
            row={k: self.whole[model][k] for k in NOT_RUN_WHOLE_KEYS},
            meta=self.whole_meta(model),
            status=status,
            reason=not_run_reason(status, self.patch_choice(model)),
        )

    def paper_whole(self, table: int) -> dict[str, dict[str, Any]]:
        """The paper's published Table 2/3 numbers, for the table only."""
        return {name: _paper_numbers(self.whole[name]) for name in self.whole_table(table)}

    def heatmap_patch_row(self) -> str | None:
        """The Table 1 row whose heatmaps the overlays show (``figures.heatmap_row``'s)."""
        return self.patch_choice(self.config["figures"]["heatmap_row"]).row

    def heatmap_settings(self) -> OverlaySettings:
        """What the heatmap overlays need: how many images, the image and patch sizes."""
        return OverlaySettings(
            n_images=int(self.config["figures"]["heatmap_images"]),
            image_size=self.image_size,
            patch_size=self.patch_size,
        )

    # Table 4 ----------------------------------------------------------------------------
    def transfer_cell(self, init: str, model: str, size: str, seed: int) -> TransferCellSettings:
        """Exactly what changes one Table 4 cell's result."""
        cfg = self.config
        cell = TransferCell(init=init, network=self.network(model), size=size, seed=int(seed))
        return transfer_settings(
            cell,
            transfer=cfg["transfer"],
            whole=cfg["whole_image"],
            augment=cfg["patch_training"]["augment"],
        )

    def transfer_cell_dirs(self, models: Sequence[str]) -> list[str]:
        """The folder of every cell that trains when ``models`` are fine-tuned."""
        return [cell_dir(*cell) for cell in sweep_cells(self.config["transfer"], models)]

    def sweep_columns(self, models: Sequence[str]) -> list[str]:
        """Table 4's model columns (``init-model``): the fine-tuned models, then the control."""
        cells = sweep_cells(self.config["transfer"], models)
        return list(dict.fromkeys(f"{init}-{model}" for init, model, _, _ in cells))

    def ensemble_cell_dirs(self, models: Sequence[str]) -> list[str]:
        """The INbreast ensemble's members: each model fine-tuned at ``transfer.ensemble_size``
        with the sweep's first seed."""
        transfer = self.config["transfer"]
        size, seed = transfer["ensemble_size"], transfer["sweep"]["seeds"][0]
        return [cell_dir("whole_image", model, size, seed) for model in models]

    # the ensembles and the claims ------------------------------------------------------
    def ensemble(self, dataset: str) -> EnsembleSettings:
        """A dataset's ensemble: CBIS-DDSM's one member per paper family, chosen on validation,
        Youden's threshold there, scored on test (Fig 3a); INbreast's fine-tuned members as
        given, ``transfer.threshold``, scored on its validation split (Fig 3b)."""
        cfg = self.config
        bootstrap = dict(cfg["whole_image"]["bootstrap"])
        if dataset == "cbis-ddsm":
            return EnsembleSettings(
                dataset=dataset,
                families=tuple(cfg["ensemble"]["families"]),
                bootstrap=bootstrap,
                eval_split="test",
                threshold=None,
                data=data_kind(cfg, "cbis_ddsm"),
            )
        return EnsembleSettings(
            dataset=dataset,
            families=None,
            bootstrap=bootstrap,
            eval_split="val",
            threshold=cfg["transfer"]["threshold"],
            data=data_kind(cfg, "cbis_ddsm", "inbreast"),
        )

    def claims(self) -> ClaimSettings:
        """The claims table's bootstrap, the sweep's sizes, the paper's Table 4 and ensemble
        AUCs and the switches a not-run note names."""
        cfg = self.config
        bootstrap = cfg["whole_image"]["bootstrap"]
        return ClaimSettings(
            n_boot=int(bootstrap["n_boot"]),
            seed=int(bootstrap["seed"]),
            sizes=tuple(cfg["transfer"]["sweep"]["sizes"]),
            paper_table4=paper_table4_aucs(cfg["table4"]),
            not_run_switch=PAPER_SWITCH,
            paper_ensemble_auc=cfg["ensemble"]["paper_auc"],
            sweep_switch=SWEEP_SWITCH,
        )

    def paper_row_aucs(self) -> dict[str, dict[str, Any]]:
        """The paper's AUC and A-AUC of every Table 2/3 row (the claims' paper column)."""
        return paper_numbers(self.config["table2"], self.config["table3"])

    def localisation(self) -> LocalisationSettings:
        """The heatmaps' pointing game: the converted image size, the patch side, the
        bootstrap of the whole-image rows."""
        bootstrap = self.config["whole_image"]["bootstrap"]
        return LocalisationSettings(
            image_size=self.image_size,
            patch_size=self.patch_size,
            n_boot=int(bootstrap["n_boot"]),
            seed=int(bootstrap["seed"]),
        )
