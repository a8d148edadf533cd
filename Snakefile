# e2e-mammo: Shen et al. (2019) as a DAG of cached stages.
# Run: snakemake all --cores 8 --resources gpu=1   (parameters: params.yaml)
# (Snakemake 9 reads a target written right after --resources as one more resource.)
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


# snakemake --report results/report.html: tables, ensembles and figures with captions.
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    dataset="|".join(DATASETS),
    patch_set="|".join(PATCH_SETS),
    row=one_of(TABLE1),
    model=one_of(WHOLE),


include: "workflow/rules/synth.smk"
include: "workflow/rules/index.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/tracking.smk"
include: "workflow/rules/patches.smk"
include: "workflow/rules/train_patch.smk"
include: "workflow/rules/train_whole.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


# Cheap bookkeeping jobs run on the submitting host, never through a cluster executor.
localrules:
    all,
    patch_row_not_run,
    whole_row_not_run,
    table1,
    table2,
    table3,
    table4,
    split_dataset,
    ensemble,
    inbreast_ensemble,
    ensemble_table,
    fig2,
    loss_curves,
    sweep_points,
    report_table,
    claims,


rule all:
    default_target: True
    input:
        expand("results/splits/{dataset}/splits.csv", dataset=DATASETS),
        "results/tables/table1.md",
        "results/tables/table2.md",
        "results/tables/table3.md",
        "results/tables/table4.md",
        "results/figures/table4_sweep.png",
        "results/figures/fig3b_roc.png",
        "results/tables/ensemble.csv",
        "results/tables/claims.md",
        "results/figures/fig2_loss.png",
        "results/figures/fig3a_roc.png",
        "results/figures/heatmap_overlays.png",
        "results/figures/fig4_datasets.png",
        expand("results/plots/loss/{model}.csv", model=END_TO_END_ROWS),
        sweep_point_files,
        expand("results/report/{name}.html", name=REPORT_TABLES),
