# Helpers shared by the workflow: parameter validation and per-dataset lookups.
import re
from pathlib import Path

from e2e_mammo.config import is_synthetic, validate_params
from e2e_mammo.constants import SPLITS
from e2e_mammo.preprocess.patches import scaled_patch_size
from e2e_mammo.training.patch_run import choose_pretrained, row_training_settings

validate_params(config, Path(workflow.basedir) / "workflow/schemas/params.schema.yaml")

DATASETS = ["cbis-ddsm", "inbreast"]
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
