"""Snakemake adapter: the paper's Fig 4, one converted mammogram per dataset with its histogram."""

from pathlib import Path

from e2e_mammo.data.whole_images import read_png16
from e2e_mammo.io import read_table
from e2e_mammo.logs import log_to_file
from e2e_mammo.reporting.figures import plot_dataset_examples

CAPTIONS = {
    "cbis-ddsm": "CBIS-DDSM (digitised film)",
    "inbreast": "INbreast (full-field digital)",
}

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
items = []
for dataset, manifest in zip(snakemake.params.datasets, snakemake.input, strict=True):
    table = read_table(manifest, ("image_id", "png_path")).sort_values("image_id")
    first = table.iloc[0]
    caption = f"{CAPTIONS.get(dataset, dataset)}: {first['image_id']}"
    items.append({"image": read_png16(first["png_path"]), "caption": caption})
plot_dataset_examples(
    items,
    Path(snakemake.output[0]),
    "Fig 4: a mammogram of each dataset as converted (the same minmax to 16 bits)",
)
