# One job per Table 1 row (wildcard `row`, the `row` key of a params.yaml table1 entry).
# The rows patch_training.rows selects train when their ImageNet weights are on disk; the others
# are recorded as not run, with the file to put where (adding the file makes the row train on the
# next run), or as not in demo, with the switch that trains them.
rule train_patch_classifier:
    input:
        patches=row_patch_files,
        mean="results/stats/cbis-ddsm/mean.json",
        weights=lambda w: PLAN.patch_weights(w.row),
    output:
        result="results/patch_models/{row}/result.json",
        model="results/patch_models/{row}/model.pt",
        predictions="results/patch_models/{row}/predictions.csv",
        history="results/patch_models/{row}/history.csv",
    log:
        "logs/train_patch/{row}.log",
    benchmark:
        "benchmarks/train_patch/{row}.tsv"
    wildcard_constraints:
        row=one_of(TRAINED_ROWS),
    conda:
        ENV
    threads: 8
    resources:
        gpu=1,
    params:
        code=code("train_patch_classifier.py"),
        settings=lambda w: to_params(PLAN.patch_row(w.row)),
    script:
        "../scripts/train_patch_classifier.py"


rule patch_row_not_run:
    output:
        result="results/patch_models/{row}/result.json",
    log:
        "logs/train_patch/{row}.log",
    wildcard_constraints:
        row=one_of(NOT_RUN_ROWS),
    conda:
        ENV
    params:
        code=code("patch_row_not_run.py"),
        row=lambda w: PLAN.patch_row_not_run(w.row),
        pretrained=config["pretrained"],
        left_out=lambda w: PLAN.patch_row_left_out(w.row),
    script:
        "../scripts/patch_row_not_run.py"


rule table1:
    input:
        expand("results/patch_models/{row}/result.json", row=TABLE1),
    output:
        csv="results/tables/table1.csv",
        md="results/tables/table1.md",
        metrics="results/metrics/table1.json",
    log:
        "logs/tables/table1.log",
    conda:
        ENV
    params:
        code=code("table1.py"),
        paper=PLAN.paper_table1(),
    script:
        "../scripts/table1.py"
