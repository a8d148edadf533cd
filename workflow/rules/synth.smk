rule synth_dataset:
    output:
        directory("results/synthetic/{dataset}"),
    log:
        "logs/synth/{dataset}.log",
    conda:
        ENV
    params:
        code=code("synth_dataset.py"),
        synthetic=lambda w: dataset_cfg(w.dataset)["synthetic"],
    script:
        "../scripts/synth_dataset.py"
