rule synth_dataset:
    output:
        directory("results/synthetic/{dataset}"),
    log:
        "logs/synth/{dataset}.log",
    conda:
        ENV
    params:
        code=code("synth_dataset.py"),
        synthetic=synthetic_params,
    script:
        "../scripts/synth_dataset.py"
