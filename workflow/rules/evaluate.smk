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
        models=expand("results/whole_models/{model}/model.pt", model=END_TO_END_ROWS),
    output:
        summary="results/ensemble/cbis-ddsm/summary.json",
        predictions="results/ensemble/cbis-ddsm/predictions.csv",
        # the model bundle `e2e-mammo predict` uses by default
        bundle="results/ensemble/cbis-ddsm/bundle.pt",
        roc=report(
            "results/figures/fig3a_roc.png",
            caption="../report/fig3a.rst",
            category="Figures",
            labels={"figure": "Fig 3a"},
        ),
        roc_points="results/plots/roc/cbis-ddsm.csv",
    log:
        "logs/ensemble/cbis-ddsm.log",
    conda:
        ENV
    params:
        code=code("ensemble.py"),
        settings=to_params(PLAN.ensemble("cbis-ddsm")),
    script:
        "../scripts/ensemble.py"


rule ensemble_table:
    input:
        expand("results/ensemble/{dataset}/summary.json", dataset=DATASETS),
    output:
        csv="results/tables/ensemble.csv",
        metrics="results/metrics/ensemble.json",
    log:
        "logs/tables/ensemble.log",
    conda:
        ENV
    params:
        code=code("ensemble_table.py"),
    script:
        "../scripts/ensemble_table.py"


# DVC plot data: each trained whole-image row's loss per epoch (dvc plots show/diff).
rule loss_curves:
    input:
        expand("results/whole_models/{model}/history.csv", model=END_TO_END_ROWS),
    output:
        expand("results/plots/loss/{model}.csv", model=END_TO_END_ROWS),
    log:
        "logs/plots/loss_curves.log",
    conda:
        ENV
    params:
        code=code("loss_curves.py"),
    script:
        "../scripts/loss_curves.py"


rule fig2:
    input:
        expand(
            "results/whole_models/{model}/result.json",
            model=config["figures"]["fig2_rows"],
        ),
    output:
        report(
            "results/figures/fig2_loss.png",
            caption="../report/fig2.rst",
            category="Figures",
            labels={"figure": "Fig 2"},
        ),
    log:
        "logs/figures/fig2.log",
    conda:
        ENV
    params:
        code=code("fig2.py"),
    script:
        "../scripts/fig2.py"


rule heatmap_overlays:
    input:
        splits="results/splits/cbis-ddsm/splits.csv",
        manifest="results/converted/cbis-ddsm/manifest.csv",
        patch_model=patch_model(PLAN.heatmap_patch_row()),
    output:
        report(
            "results/figures/heatmap_overlays.png",
            caption="../report/heatmaps.rst",
            category="Figures",
            labels={"figure": "Heatmap overlays"},
        ),
    log:
        "logs/figures/heatmap_overlays.log",
    conda:
        ENV
    params:
        code=code("heatmap_overlays.py"),
        settings=to_params(PLAN.heatmap_settings()),
    script:
        "../scripts/heatmap_overlays.py"


# The heatmaps' pointing game on the test images' lesion masks (not a table of the paper):
# does each trained patch classifier's heatmap peak on the lesion? Reads saved models.
rule localisation:
    input:
        splits="results/splits/cbis-ddsm/splits.csv",
        manifest="results/converted/cbis-ddsm/manifest.csv",
        masks="results/converted/cbis-ddsm/masks.csv",
        models=expand("results/patch_models/{row}/model.pt", row=TRAINED_ROWS),
    output:
        csv="results/tables/localisation.csv",
        md="results/tables/localisation.md",
        metrics="results/metrics/localisation.json",
    log:
        "logs/tables/localisation.log",
    conda:
        ENV
    params:
        code=code("localisation.py"),
        rows=TRAINED_ROWS,
        settings=to_params(PLAN.localisation()),
    script:
        "../scripts/localisation.py"


rule fig4:
    input:
        expand("results/converted/{dataset}/manifest.csv", dataset=DATASETS),
    output:
        report(
            "results/figures/fig4_datasets.png",
            caption="../report/fig4.rst",
            category="Figures",
            labels={"figure": "Fig 4"},
        ),
    log:
        "logs/figures/fig4.log",
    conda:
        ENV
    params:
        code=code("fig4.py"),
        datasets=DATASETS,
    script:
        "../scripts/fig4.py"
