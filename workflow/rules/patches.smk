rule pixel_mean:
    input:
        manifest="results/converted/{dataset}/manifest.csv",
        splits="results/splits/{dataset}/splits.csv",
    output:
        "results/stats/{dataset}/mean.json",
    log:
        "logs/stats/{dataset}.log",
    conda:
        ENV
    params:
        code=code("pixel_mean.py"),
        split=config["stats"]["mean_split"],
    script:
        "../scripts/pixel_mean.py"


rule extract_patches:
    input:
        manifest="results/converted/cbis-ddsm/manifest.csv",
        masks="results/converted/cbis-ddsm/masks.csv",
        splits="results/splits/cbis-ddsm/splits.csv",
    output:
        arrays=expand("results/patches/{{patch_set}}/{split}.npy", split=SPLITS),
        indexes=expand("results/patches/{{patch_set}}/{split}.csv", split=SPLITS),
        counts="results/patches/{patch_set}/counts.csv",
        exclusions="results/patches/{patch_set}/exclusions.csv",
    log:
        "logs/patches/{patch_set}.log",
    benchmark:
        "benchmarks/patches/{patch_set}.tsv"
    conda:
        ENV
    params:
        code=code("extract_patches.py"),
        sampling=lambda w: PLAN.patch_sampling(w.patch_set),
    script:
        "../scripts/extract_patches.py"
