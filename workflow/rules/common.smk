# Helpers shared by the workflow: parameter validation and per-dataset lookups.
import re
import sys
from pathlib import Path

from e2e_mammo.config import (
    check_scale,
    coerce_to_schema,
    data_kind,
    is_synthetic,
    load_yaml,
    numbers_kind,
    validate_params,
)
from e2e_mammo.code_version import code_version
from e2e_mammo.plan.members import read_members
from e2e_mammo.output_times import restore_output_times
from e2e_mammo.tracking import ensure_store_record, workflow_tracking
from e2e_mammo.constants import SPLITS
from e2e_mammo.preprocess.patches import scaled_patch_size
from e2e_mammo.plan.patch_rows import choose_pretrained, row_training_settings
from e2e_mammo.plan.whole_rows import (
    PAPER_SWITCH,
    check_row_names,
    choose_patch_row,
    not_run_reason,
    row_meta,
    row_status,
    whole_training_settings,
)
from e2e_mammo.plan.transfer_cells import (
    NOT_RUN_NOTE,
    SWEEP_SWITCH,
    TransferCell,
    cell_dir,
    check_transfer,
    paper_table4,
    sweep_cells,
    transfer_settings,
)

SCHEMA = Path(workflow.basedir) / "workflow/schemas/params.schema.yaml"
# `--config key=value` gives strings: numbers and booleans where the schema wants them
_typed = coerce_to_schema(dict(config), load_yaml(SCHEMA))
config.clear()
config.update(_typed)
validate_params(config, SCHEMA)
# the paper profile on synthetic data stops here, naming the setting to change; so does a row
# name that no table has
check_scale(config)
check_row_names(config)
# demo or paper: what the report's captions call the numbers (keyed on the data and the scale,
# e2e_mammo.config.numbers_kind); the captions read it as snakemake.config["numbers"]
NUMBERS = numbers_kind(config)
config["numbers"] = NUMBERS

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


def code(script):
    """The code a rule's job runs: its adapter script and every package module that imports,
    transitively, hashed without comments or docstrings (e2e_mammo.code_version). A param of
    every rule, so that a code edit reruns exactly the jobs it changes."""
    return code_version(SCRIPTS / script, PACKAGE_DIR)


ENV = "../../envs/e2e-mammo.yaml"


def dataset_cfg(dataset):
    """The params.yaml block of a dataset (`cbis-ddsm` -> data.cbis_ddsm)."""
    return config["data"][dataset.replace("-", "_")]


def dataset_root(dataset):
    """Input: the generated synthetic tree, or the user's download (by age, never rebuilt)."""
    root = dataset_cfg(dataset)["root"]
    if is_synthetic(root):
        return f"results/synthetic/{dataset}"
    return ancient(root)


def synthetic_params(wildcards):
    return dataset_cfg(wildcards.dataset)["synthetic"]


def cbis_csv_dir(wildcards, input):
    return dataset_cfg("cbis-ddsm").get("csv_dir") or input.root


def convert_rois(wildcards):
    """CBIS-DDSM converts its ROI masks too; INbreast has image labels only."""
    if wildcards.dataset == "cbis-ddsm":
        return "results/index/cbis-ddsm/rois.csv"
    return []


def split_params(wildcards):
    """Split settings: CBIS-DDSM paper/official mode; INbreast the 70/30 holdout."""
    seed = config["split"]["seed"]
    if wildcards.dataset == "cbis-ddsm":
        return dict(config["split"]["cbis_ddsm"], seed=seed)
    return dict(
        mode="holdout",
        seed=seed,
        test_frac=0.0,
        val_frac=config["split"]["inbreast"]["val_frac"],
        official_overlap="test",
    )


TABLE1 = {row["row"]: row for row in config["table1"]}
PATCH_SETS = sorted(config["patches"]["sets"])


def patch_set_params(wildcards):
    """Sampling settings of one patch set, with the patch side scaled to convert.size."""
    patches = config["patches"]
    size = scaled_patch_size(
        patches["size"], config["convert"]["size"][0], patches["reference_height"]
    )
    return dict(
        patches["sets"][wildcards.patch_set],
        patch_size=size,
        min_overlap=patches["min_overlap"],
        min_breast_fraction=patches["min_breast_fraction"],
        seed=patches["seed"],
    )


def patch_row_runs(row):
    """Whether a Table 1 row can train here (its ImageNet weights, if any, are on disk)."""
    return choose_pretrained(row, config["pretrained"]).skip_reason is None


TRAINED_ROWS = [name for name, row in TABLE1.items() if patch_row_runs(row)]
NOT_RUN_ROWS = [name for name in TABLE1 if name not in TRAINED_ROWS]


def patch_training_settings(wildcards):
    """Exactly what changes one row's result (never the paper's published numbers)."""
    return row_training_settings(
        TABLE1[wildcards.row], config["patch_training"], config["pretrained"]
    )


def paper_table1(wildcards):
    """The paper's published Table 1 numbers, for the table only."""
    return {
        name: {k: v for k, v in row.items() if k.startswith("paper_")}
        for name, row in TABLE1.items()
    }


def row_patch_files(wildcards):
    patch_set = TABLE1[wildcards.row]["patch_set"]
    return expand(
        "results/patches/{patch_set}/{split}.{ext}",
        patch_set=patch_set,
        split=SPLITS,
        ext=["npy", "csv"],
    )


def row_weights(wildcards):
    """The row's ImageNet weights file (an input: replacing it retrains the row), or none."""
    weights = choose_pretrained(TABLE1[wildcards.row], config["pretrained"]).weights
    return [str(weights)] if weights else []


def not_run_row(wildcards):
    """What a row that cannot run needs to say why (never the paper's published numbers)."""
    return {
        k: TABLE1[wildcards.row][k] for k in ("row", "arch", "patch_set", "pretrained")
    }


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (never matches when empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


# Tables 2 and 3: whole-image rows (wildcard `model`, the `row` key of a table2/table3 entry).
WHOLE = {
    row["row"]: dict(row, table=table)
    for table, key in ((2, "table2"), (3, "table3"))
    for row in config[key]
}
WHOLE_TABLES = {
    2: [r["row"] for r in config["table2"]],
    3: [r["row"] for r in config["table3"]],
}


def whole_patch_choice(name):
    """The Table 1 row (trained here) a whole-image row builds on."""
    row = WHOLE[name]
    return choose_patch_row(
        config["table1"], TRAINED_ROWS, row["arch"], row["patch_set"]
    )


def whole_status(name):
    """ok / not in demo / not run (see e2e_mammo.plan.whole_rows)."""
    return row_status(
        WHOLE[name], config["whole_image"]["rows"], whole_patch_choice(name)
    )


TRAINED_WHOLE = [n for n in WHOLE if whole_status(n) == "ok"]
TWO_STEP_ROWS = [n for n in TRAINED_WHOLE if WHOLE[n]["top"]["type"] == "two_step"]
END_TO_END_ROWS = [n for n in TRAINED_WHOLE if n not in TWO_STEP_ROWS]
NOT_RUN_WHOLE = [n for n in WHOLE if n not in TRAINED_WHOLE]


def image_size():
    return [int(v) for v in config["convert"]["size"]]


def patch_size():
    patches = config["patches"]
    return scaled_patch_size(
        patches["size"], config["convert"]["size"][0], patches["reference_height"]
    )


def whole_patch_model(wildcards):
    """The patch classifier's model.pt under a whole-image row (an input: retraining it
    retrains the row)."""
    return f"results/patch_models/{whole_patch_choice(wildcards.model).row}/model.pt"


def whole_settings(wildcards):
    """Exactly what changes one Table 2/3 row's result (never the paper's numbers)."""
    return whole_training_settings(
        WHOLE[wildcards.model],
        config["whole_image"],
        config["patch_training"]["augment"],
        whole_patch_choice(wildcards.model).row,
        image_size(),
        patch_size(),
    )


def two_step_settings(wildcards):
    """Exactly what changes the two-step baseline's result."""
    row = WHOLE[wildcards.model]
    return dict(
        config["two_step"],
        arch=row["arch"],
        patch_set=row["patch_set"],
        patch_row=whole_patch_choice(wildcards.model).row,
        image_size=image_size(),
        patch_size=patch_size(),
        bootstrap=config["whole_image"]["bootstrap"],
    )


def whole_meta(wildcards):
    """The descriptive fields of a row's result.json."""
    row = WHOLE[wildcards.model]
    return row_meta(row, row["table"], whole_patch_choice(wildcards.model))


def whole_not_run(wildcards):
    """A row that does not train: its description, status and reason."""
    name = wildcards.model
    status = whole_status(name)
    return dict(
        row={k: WHOLE[name][k] for k in ("row", "arch", "patch_set", "top")},
        meta=whole_meta(wildcards),
        status=status,
        reason=not_run_reason(status, whole_patch_choice(name)),
    )


def whole_results(table):
    return expand("results/whole_models/{model}/result.json", model=WHOLE_TABLES[table])


def paper_whole(table):
    """The paper's published Table 2/3 numbers, for the table only."""
    return {
        name: {k: v for k, v in WHOLE[name].items() if k.startswith("paper_")}
        for name in WHOLE_TABLES[table]
    }


def heatmap_patch_model(wildcards):
    """The patch classifier whose heatmaps the overlays show (figures.heatmap_row's)."""
    return f"results/patch_models/{whole_patch_choice(config['figures']['heatmap_row']).row}/model.pt"


# The report's table pages (see report.smk), name -> title; each page renders the table's
# Markdown (ours beside the paper's), the ensembles their CSV.
REPORT_TABLES = {
    "table1": "Table 1: patch classifiers",
    "table2": "Table 2: whole-image classifiers on the ResNet50 patch classifier",
    "table3": "Table 3: whole-image classifiers on the VGG16 patch classifier",
    "table4": "Table 4: transfer learning on INbreast",
    "ensemble": "The ensembles (Fig 3)",
    "claims": "The paper's claims, computed",
}


def report_table_source(wildcards):
    if wildcards.name == "ensemble":
        return "results/tables/ensemble.csv"
    return f"results/tables/{wildcards.name}.md"


def report_table_title(wildcards):
    return REPORT_TABLES[wildcards.name]


# Transfer learning on INbreast (Table 4): cells (init, model, size, seed), see
# e2e_mammo.plan.transfer_cells.
check_transfer(config["transfer"], END_TO_END_ROWS)


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


def transfer_cell_settings(wildcards):
    """Exactly what changes one cell's result."""
    cell = TransferCell(
        init=wildcards.init,
        row=WHOLE[wildcards.model],
        patch_row=whole_patch_choice(wildcards.model).row,
        size=wildcards.size,
        seed=int(wildcards.seed),
    )
    return transfer_settings(
        cell,
        transfer=config["transfer"],
        whole=config["whole_image"],
        augment=config["patch_training"]["augment"],
        image_size=image_size(),
        patch_size=patch_size(),
    )


def transfer_results(wildcards):
    """Every cell's result.json (Table 4)."""
    cells = sweep_cells(config["transfer"], transfer_models())
    return [f"{cell_dir(*cell)}/result.json" for cell in cells]


def transfer_predictions(wildcards):
    """Every cell's predictions.csv (the claims table)."""
    cells = sweep_cells(config["transfer"], transfer_models())
    return [f"{cell_dir(*cell)}/predictions.csv" for cell in cells]


def sweep_point_files(wildcards):
    """Table 4's plot data: one file per model column (the fine-tuned models, the control)."""
    cells = sweep_cells(config["transfer"], transfer_models())
    columns = dict.fromkeys((init, model) for init, model, _, _ in cells)
    return [f"results/plots/table4/{init}-{model}.csv" for init, model in columns]


def _ensemble_cells():
    size = config["transfer"]["ensemble_size"]
    seed = config["transfer"]["sweep"]["seeds"][0]
    return [cell_dir("whole_image", m, size, seed) for m in transfer_models()]


def inbreast_ensemble_results(wildcards):
    return [f"{folder}/result.json" for folder in _ensemble_cells()]


def inbreast_ensemble_predictions(wildcards):
    return [f"{folder}/predictions.csv" for folder in _ensemble_cells()]


def inbreast_ensemble_models(wildcards):
    return [f"{folder}/model.pt" for folder in _ensemble_cells()]
