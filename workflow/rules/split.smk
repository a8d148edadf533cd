rule split_dataset:
    input:
        "results/converted/{dataset}/manifest.csv",
    output:
        splits="results/splits/{dataset}/splits.csv",
        summary="results/splits/{dataset}/summary.csv",
        exclusions="results/splits/{dataset}/exclusions.csv",
    log:
        "logs/split/{dataset}.log",
    conda:
        ENV
    params:
        code=code("split_dataset.py"),
        split=lambda w: PLAN.split_settings(w.dataset),
    script:
        "../scripts/split_dataset.py"
