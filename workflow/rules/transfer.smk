# Transfer learning on INbreast (paper section 3.2): the training-set-size sweep (Table 4), the
# INbreast ensemble (Fig 3b) and the control. One job per cell (wildcards init, model, size,
# seed): a size or seed added to transfer.sweep in params.yaml adds jobs, never rules. The
# fine-tuned models are the CBIS-DDSM ensemble's members, known once the `ensemble` checkpoint
# has run (or transfer.models lists them).
rule transfer_cell:
    input:
        splits="results/splits/inbreast/splits.csv",
        manifest="results/converted/inbreast/manifest.csv",
        mean="results/stats/inbreast/mean.json",
        init_model=transfer_init_model,
    output:
        result="results/transfer/{init}/{model}/n{size}-s{seed}/result.json",
        model="results/transfer/{init}/{model}/n{size}-s{seed}/model.pt",
        predictions="results/transfer/{init}/{model}/n{size}-s{seed}/predictions.csv",
        history="results/transfer/{init}/{model}/n{size}-s{seed}/history.csv",
        subset="results/transfer/{init}/{model}/n{size}-s{seed}/subset.csv",
    log:
        "logs/transfer/{init}/{model}/n{size}-s{seed}.log",
    benchmark:
        "benchmarks/transfer/{init}/{model}/n{size}-s{seed}.tsv"
    wildcard_constraints:
        init="whole_image|patch_only",
        size=r"\d+|all",
        seed=r"\d+",
    conda:
        ENV
    threads: 8
    resources:
        gpu=1,
    params:
        code=code("transfer_cell.py"),
        settings=lambda w: to_params(
            PLAN.transfer_cell(w.init, w.model, w.size, int(w.seed))
        ),
    script:
        "../scripts/transfer_cell.py"


rule table4:
    input:
        lambda w: transfer_cell_files("result.json"),
    output:
        csv="results/tables/table4.csv",
        md="results/tables/table4.md",
        plot=report(
            "results/figures/table4_sweep.png",
            caption="../report/sweep.rst",
            category="Figures",
            labels={"figure": "Table 4 sweep"},
        ),
        metrics="results/metrics/table4.json",
    log:
        "logs/tables/table4.log",
    conda:
        ENV
    params:
        code=code("table4.py"),
        sizes=config["transfer"]["sweep"]["sizes"],
        paper=paper_table4(config["table4"]),
        note=NOT_RUN_NOTE,
    script:
        "../scripts/table4.py"


# DVC plot data: one model column of Table 4 (AUC by training patients).
rule sweep_points:
    input:
        "results/tables/table4.csv",
    output:
        "results/plots/table4/{init}-{model}.csv",
    log:
        "logs/plots/table4/{init}-{model}.log",
    wildcard_constraints:
        init="whole_image|patch_only",
    conda:
        ENV
    params:
        code=code("sweep_points.py"),
    script:
        "../scripts/sweep_points.py"


rule inbreast_ensemble:
    input:
        results=lambda w: inbreast_ensemble_files("result.json"),
        predictions=lambda w: inbreast_ensemble_files("predictions.csv"),
        models=lambda w: inbreast_ensemble_files("model.pt"),
    output:
        summary="results/ensemble/inbreast/summary.json",
        predictions="results/ensemble/inbreast/predictions.csv",
        bundle="results/ensemble/inbreast/bundle.pt",
        roc=report(
            "results/figures/fig3b_roc.png",
            caption="../report/fig3b.rst",
            category="Figures",
            labels={"figure": "Fig 3b"},
        ),
        roc_points="results/plots/roc/inbreast.csv",
    log:
        "logs/ensemble/inbreast.log",
    conda:
        ENV
    params:
        code=code("ensemble.py"),
        settings=to_params(PLAN.ensemble("inbreast")),
    script:
        "../scripts/ensemble.py"
