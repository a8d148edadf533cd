# Wiring shared by the rules: the validated config, its plan (e2e_mammo.plan.matrix: every
# row and cell, which train, each job's settings) and the files that connect them.
import re
import sys
from pathlib import Path

from e2e_mammo.code_version import code_version
from e2e_mammo.config import is_synthetic, prepare_config
from e2e_mammo.constants import SPLITS
from e2e_mammo.output_times import restore_output_times
from e2e_mammo.plan.matrix import ExperimentPlan
from e2e_mammo.plan.members import read_members
from e2e_mammo.plan.settings import to_params
from e2e_mammo.plan.transfer_cells import NOT_RUN_NOTE, paper_table4
from e2e_mammo.tracking import ensure_store_record, workflow_tracking

# typed (`--config key=value` gives strings), validated, the paper profile refused on synthetic
# data (naming the setting to change), and config["numbers"]: demo or paper, what the report's
# captions call the numbers
_prepared = prepare_config(
    config, Path(workflow.basedir) / "workflow/schemas/params.schema.yaml"
)
config.clear()
config.update(_prepared)
# every row and cell, which train, and each job's settings (raises on a row name in no table)
PLAN = ExperimentPlan.from_config(config)

# DVC restores files without their times: put the outputs' times back in the order Snakemake
# recorded (.snakemake/metadata, versioned with the results) before it compares them.
if workflow.is_main_process:
    restamped = restore_output_times(".snakemake/metadata")
    if restamped:
        print(
            f"restored the file times of {restamped} outputs from .snakemake/metadata",
            file=sys.stderr,
        )

DATASETS = ["cbis-ddsm", "inbreast"]
SCRIPTS = Path(workflow.basedir) / "workflow/scripts"
PACKAGE_DIR = Path(workflow.basedir) / "src/e2e_mammo"
ENV = "../../envs/e2e-mammo.yaml"
TABLE1, WHOLE = PLAN.table1, PLAN.whole
PATCH_SETS = sorted(config["patches"]["sets"])
TRAINED_ROWS, NOT_RUN_ROWS = PLAN.trained_rows, PLAN.not_run_rows
TRAINED_WHOLE, NOT_RUN_WHOLE = PLAN.trained_whole, PLAN.not_run_whole
TWO_STEP_ROWS, END_TO_END_ROWS = PLAN.two_step_rows, PLAN.end_to_end_rows


def code(script):
    """The code a rule's job runs: its adapter script and every package module that imports,
    transitively, hashed without comments or docstrings (e2e_mammo.code_version). A param of
    every rule, so that a code edit reruns exactly the jobs it changes."""
    return code_version(SCRIPTS / script, PACKAGE_DIR)


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (never matches when empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def dataset_cfg(dataset):
    """The params.yaml block of a dataset (`cbis-ddsm` -> data.cbis_ddsm)."""
    return config["data"][dataset.replace("-", "_")]


def dataset_root(dataset):
    """Input: the generated synthetic tree, or the user's download (by age, never rebuilt)."""
    root = dataset_cfg(dataset)["root"]
    return f"results/synthetic/{dataset}" if is_synthetic(root) else ancient(root)


def cbis_csv_dir(wildcards, input):
    return dataset_cfg("cbis-ddsm").get("csv_dir") or input.root


def convert_rois(wildcards):
    """CBIS-DDSM converts its ROI masks too; INbreast has image labels only."""
    return (
        "results/index/cbis-ddsm/rois.csv" if wildcards.dataset == "cbis-ddsm" else []
    )


def row_patch_files(wildcards):
    patch_set = TABLE1[wildcards.row]["patch_set"]
    return expand(
        "results/patches/{patch_set}/{split}.{ext}",
        patch_set=patch_set,
        split=SPLITS,
        ext=["npy", "csv"],
    )


def patch_model(row):
    return f"results/patch_models/{row}/model.pt"


def whole_patch_model(wildcards):
    """The patch classifier under a whole-image row (retraining it retrains the row)."""
    return patch_model(PLAN.patch_choice(wildcards.model).row)


def whole_results(table):
    rows = PLAN.whole_table(table)
    return expand("results/whole_models/{model}/result.json", model=rows)


# The report's table pages (report.smk), name -> title; each page renders the table's Markdown
# (ours beside the paper's), the ensembles their CSV.
REPORT_TABLES = {
    "table1": "Table 1: patch classifiers",
    "table2": "Table 2: whole-image classifiers on the ResNet50 patch classifier",
    "table3": "Table 3: whole-image classifiers on the VGG16 patch classifier",
    "table4": "Table 4: transfer learning on INbreast",
    "ensemble": "The ensembles (Fig 3)",
    "claims": "The paper's claims, computed",
    "localisation": "Localisation: the heatmaps' pointing game",
}
REPORT_TABLE_SOURCES = {"ensemble": "results/tables/ensemble.csv"}


# Transfer learning on INbreast (Table 4): cells (init, model, size, seed), see
# e2e_mammo.plan.transfer_cells.
def transfer_models():
    """The fine-tuned CBIS-DDSM models: the ensemble's members (after its checkpoint) or the
    rows transfer.models lists."""
    models = config["transfer"]["models"]
    if models != "ensemble":
        return list(models)
    return read_members(checkpoints.ensemble.get().output.summary)


def transfer_init_model(wildcards):
    """A cell's starting model: the CBIS-DDSM whole-image model, or (the control) its patch
    classifier."""
    if wildcards.init == "whole_image":
        return f"results/whole_models/{wildcards.model}/model.pt"
    return whole_patch_model(wildcards)


def transfer_cell_files(name):
    """Every cell's `name` file (result.json: Table 4; predictions.csv: the claims table)."""
    return [f"{d}/{name}" for d in PLAN.transfer_cell_dirs(transfer_models())]


def sweep_point_files(wildcards):
    """Table 4's plot data: one file per model column (the fine-tuned models, the control)."""
    columns = PLAN.sweep_columns(transfer_models())
    return [f"results/plots/table4/{column}.csv" for column in columns]


def inbreast_ensemble_files(name):
    """The INbreast ensemble's members' `name` files."""
    return [f"{d}/{name}" for d in PLAN.ensemble_cell_dirs(transfer_models())]
