# DICOM -> 16-bit PNG. Only the tables are declared outputs: the PNGs they list live under
# results/converted/{dataset}/{images,masks}/ and survive a failed or interrupted job, so a
# rerun resumes without redoing finished images.
rule convert_dataset:
    input:
        images="results/index/{dataset}/images.csv",
        rois=convert_rois,
    output:
        manifest="results/converted/{dataset}/manifest.csv",
        masks="results/converted/{dataset}/masks.csv",
        exclusions="results/converted/{dataset}/exclusions.csv",
    log:
        "logs/convert/{dataset}.log",
    benchmark:
        "benchmarks/convert/{dataset}.tsv"
    conda:
        ENV
    threads: 8
    params:
        code=code("convert_dataset.py"),
        size=config["convert"]["size"],
        intensity=config["convert"]["intensity"],
        strict=config["convert"]["strict"],
    script:
        "../scripts/convert_dataset.py"
