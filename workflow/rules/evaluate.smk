# The four-model ensemble (members chosen on validation; a checkpoint: the INbreast sweep
# fine-tunes its members), Fig 2, Fig 3a and heatmap overlays:
# they read saved predictions and histories, and never rerun a model.
checkpoint ensemble:
    input:
        results=expand(
            "results/whole_models/{model}/result.json", model=END_TO_END_ROWS
        ),
        predictions=expand(
            "results/whole_models/{model}/predictions.csv", model=END_TO_END_ROWS
        ),
        mlflow="results/mlflow/experiment.json",
    output:
        summary="results/ensemble/cbis-ddsm/summary.json",
        predictions="results/ensemble/cbis-ddsm/predictions.csv",
        roc="results/figures/fig3a_roc.png",
    log:
        "logs/ensemble/cbis-ddsm.log",
    conda:
        ENV
    params:
        dataset="cbis-ddsm",
        k=config["ensemble"]["k"],
        bootstrap=config["whole_image"]["bootstrap"],
        eval_split="test",
        threshold=None,
        fixed_members=False,
    script:
        "../scripts/ensemble.py"


rule ensemble_table:
    input:
        expand("results/ensemble/{dataset}/summary.json", dataset=DATASETS),
    output:
        "results/tables/ensemble.csv",
    log:
        "logs/tables/ensemble.log",
    conda:
        ENV
    script:
        "../scripts/ensemble_table.py"


rule fig2:
    input:
        expand(
            "results/whole_models/{model}/result.json",
            model=config["figures"]["fig2_rows"],
        ),
    output:
        "results/figures/fig2_loss.png",
    log:
        "logs/figures/fig2.log",
    conda:
        ENV
    script:
        "../scripts/fig2.py"


rule heatmap_overlays:
    input:
        splits="results/splits/cbis-ddsm/splits.csv",
        manifest="results/converted/cbis-ddsm/manifest.csv",
        patch_model=heatmap_patch_model,
    output:
        "results/figures/heatmap_overlays.png",
    log:
        "logs/figures/heatmap_overlays.log",
    conda:
        ENV
    params:
        settings=dict(
            n_images=config["figures"]["heatmap_images"],
            image_size=image_size(),
            patch_size=patch_size(),
        ),
    script:
        "../scripts/heatmap_overlays.py"


rule fig4:
    input:
        expand("results/converted/{dataset}/manifest.csv", dataset=DATASETS),
    output:
        "results/figures/fig4_datasets.png",
    log:
        "logs/figures/fig4.log",
    conda:
        ENV
    params:
        datasets=DATASETS,
    script:
        "../scripts/fig4.py"
