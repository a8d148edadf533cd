# One job per Table 1 row (wildcard `row`, the `row` key of a params.yaml table1 entry).
rule train_patch_classifier:
    input:
        patches=row_patch_files,
        mean="results/stats/cbis-ddsm/mean.json",
        mlflow="results/mlflow/experiment.json",
    output:
        result="results/patch_models/{row}/result.json",
    log:
        "logs/train_patch/{row}.log",
    benchmark:
        "benchmarks/train_patch/{row}.tsv"
    conda:
        ENV
    threads: 8
    resources:
        gpu=1,
    params:
        row=table1_row,
        training=config["patch_training"],
        pretrained=config["pretrained"],
        tracking=config["tracking"],
    script:
        "../scripts/train_patch_classifier.py"


rule table1:
    input:
        expand("results/patch_models/{row}/result.json", row=TABLE1),
    output:
        csv="results/tables/table1.csv",
        md="results/tables/table1.md",
    log:
        "logs/tables/table1.log",
    conda:
        ENV
    script:
        "../scripts/table1.py"
