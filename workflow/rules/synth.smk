rule synth_dataset:
    output:
        directory("results/synthetic/{dataset}"),
    log:
        "logs/synth/{dataset}.log",
    conda:
        ENV
    params:
        synthetic=synthetic_params,
    script:
        "../scripts/synth_dataset.py"
