# One job per Table 2/3 row (wildcard `model`, the `row` key of a params.yaml table2/table3 entry).
# Rows listed in whole_image.rows train on the Table 1 patch classifier of their arch and patch
# set; the two-step row fits its random forest; every other row is recorded with the reason and
# the switch that trains it.
rule train_whole_image:
    input:
        splits="results/splits/cbis-ddsm/splits.csv",
        manifest="results/converted/cbis-ddsm/manifest.csv",
        patch_model=whole_patch_model,
    output:
        result="results/whole_models/{model}/result.json",
        model="results/whole_models/{model}/model.pt",
        predictions="results/whole_models/{model}/predictions.csv",
        history="results/whole_models/{model}/history.csv",
    log:
        "logs/train_whole/{model}.log",
    benchmark:
        "benchmarks/train_whole/{model}.tsv"
    wildcard_constraints:
        model=one_of(END_TO_END_ROWS),
    conda:
        ENV
    threads: 8
    resources:
        gpu=1,
    params:
        code=code("train_whole_image.py"),
        settings=lambda w: to_params(PLAN.whole_row(w.model)),
        meta=lambda w: PLAN.whole_meta(w.model),
    script:
        "../scripts/train_whole_image.py"


rule two_step:
    input:
        splits="results/splits/cbis-ddsm/splits.csv",
        manifest="results/converted/cbis-ddsm/manifest.csv",
        patch_model=whole_patch_model,
    output:
        result="results/whole_models/{model}/result.json",
        predictions="results/whole_models/{model}/predictions.csv",
    log:
        "logs/train_whole/{model}.log",
    benchmark:
        "benchmarks/train_whole/{model}.tsv"
    wildcard_constraints:
        model=one_of(TWO_STEP_ROWS),
    conda:
        ENV
    threads: 2
    params:
        code=code("two_step.py"),
        settings=lambda w: to_params(PLAN.two_step(w.model)),
        meta=lambda w: PLAN.whole_meta(w.model),
    script:
        "../scripts/two_step.py"


rule whole_row_not_run:
    output:
        result="results/whole_models/{model}/result.json",
    log:
        "logs/train_whole/{model}.log",
    wildcard_constraints:
        model=one_of(NOT_RUN_WHOLE),
    conda:
        ENV
    params:
        code=code("whole_row_not_run.py"),
        info=lambda w: PLAN.whole_not_run(w.model),
    script:
        "../scripts/whole_row_not_run.py"


rule table2:
    input:
        whole_results(2),
    output:
        csv="results/tables/table2.csv",
        md="results/tables/table2.md",
        metrics="results/metrics/table2.json",
    log:
        "logs/tables/table2.log",
    conda:
        ENV
    params:
        code=code("whole_table.py"),
        paper=PLAN.paper_whole(2),
        title="Table 2: whole-image classifiers on the ResNet50 patch classifier",
    script:
        "../scripts/whole_table.py"


rule table3:
    input:
        whole_results(3),
    output:
        csv="results/tables/table3.csv",
        md="results/tables/table3.md",
        metrics="results/metrics/table3.json",
    log:
        "logs/tables/table3.log",
    conda:
        ENV
    params:
        code=code("whole_table.py"),
        paper=PLAN.paper_whole(3),
        title="Table 3: whole-image classifiers on the VGG16 patch classifier",
    script:
        "../scripts/whole_table.py"
