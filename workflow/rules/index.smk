rule index_cbis_ddsm:
    input:
        root=dataset_root("cbis-ddsm"),
    output:
        images="results/index/cbis-ddsm/images.csv",
        rois="results/index/cbis-ddsm/rois.csv",
        exclusions="results/index/cbis-ddsm/exclusions.csv",
    log:
        "logs/index/cbis-ddsm.log",
    conda:
        ENV
    params:
        code=code("index_dataset.py"),
        csv_dir=cbis_csv_dir,
        strict=config["index"]["strict"],
        # the official set of a view listed under both a Mass- and a Calc- subject
        official_overlap=config["split"]["cbis_ddsm"]["official_overlap"],
    script:
        "../scripts/index_dataset.py"


rule index_inbreast:
    input:
        root=dataset_root("inbreast"),
    output:
        images="results/index/inbreast/images.csv",
        exclusions="results/index/inbreast/exclusions.csv",
    log:
        "logs/index/inbreast.log",
    conda:
        ENV
    params:
        code=code("index_dataset.py"),
        csv_dir=None,
        strict=config["index"]["strict"],
    script:
        "../scripts/index_dataset.py"
