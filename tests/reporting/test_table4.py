"""Table 4: every size listed, ours beside the paper's, seeds summarised, not-run sizes named."""

import pandas as pd

from e2e_mammo.reporting.table4 import paper_model, table4_frame, table4_markdown, write_table4

PAPER = {
    "20": {"paper_patients": 20, "paper_images": 79, "paper_auc": {"Resnet-VGG": 0.88}},
    "all": {"paper_patients": 72, "paper_images": 280, "paper_auc": {"Resnet-VGG": 0.95}},
}
VGG_TOP = {"type": "vgg", "blocks": [[256, 1], [128, 1]]}


def _cell(init="whole_image", row="r50-vgg", size="20", seed=1, auc=0.8):
    return {
        "row": row,
        "arch": "resnet50",
        "top": VGG_TOP,
        "init": init,
        "size": size,
        "seed": seed,
        "status": "ok",
        "n_patients": 14,
        "n_images": 50,
        "select": "last",
        "val_auc": auc,
        "val_auc_ci_low": auc - 0.1,
        "val_auc_ci_high": auc + 0.05,
    }


def test_paper_model_names_follow_the_paper() -> None:
    assert paper_model("resnet50", VGG_TOP) == "Resnet-VGG"
    assert paper_model("vgg16", {"type": "resnet", "blocks": []}) == "VGG-Resnet"
    assert paper_model("resnet50", {"type": "resnet", "heatmap": True}) is None
    assert paper_model("resnet50", {"type": "fc"}) is None


def test_every_size_is_listed_and_paper_values_stand_beside_ours() -> None:
    frame = table4_frame([_cell()], [20, "all"], PAPER, "not fine-tuned; switch")
    assert list(frame["size"]) == ["20", "all"]
    ran = frame.iloc[0]
    assert ran["paper_auc"] == 0.88 and ran["paper_images"] == 79 and ran["auc"] == 0.8
    skipped = frame.iloc[1]
    assert skipped["status"] == "not in demo" and skipped["note"] == "not fine-tuned; switch"
    assert skipped["paper_patients"] == 72


def test_markdown_shows_intervals_the_control_and_the_papers_four_values() -> None:
    cells = [_cell(), _cell(init="patch_only", auc=0.55)]
    md = table4_markdown(table4_frame(cells, [20, "all"], PAPER, "switch"), PAPER)
    assert "0.800 (0.700-0.850)" in md and "0.550 (0.450-0.600)" in md
    assert "control: Resnet-VGG: r50-vgg from its patch classifier only" in md
    assert "| 20 | 14 (20) | 50 (79) |" in md
    assert "- / 0.88 / - / -" in md
    assert "not in demo: switch" in md
    assert "never the paper's" in md
    assert "reports its last epoch: nothing was chosen on the validation set" in md


def test_model_columns_are_the_papers_four_families_in_its_order_naming_their_rows() -> None:
    cells = [
        _cell(row="vgg-res", auc=0.6) | {"arch": "vgg16", "top": {"type": "resnet"}},
        _cell(row="r50-vgg"),
    ]
    md = table4_markdown(table4_frame(cells, [20], PAPER, "x"), PAPER)
    header = md.splitlines()[4]
    names = ["Resnet-Resnet: no row fine-tuned", "Resnet-VGG: r50-vgg", "VGG-VGG: no row"]
    names.append("VGG-Resnet: vgg-res")
    positions = [header.index(n) for n in names]
    assert positions == sorted(positions)
    assert md.splitlines()[6].count("not run") == 2


def test_several_seeds_are_summarised_as_mean_and_spread() -> None:
    cells = [_cell(seed=1, auc=0.7), _cell(seed=2, auc=0.9)]
    md = table4_markdown(table4_frame(cells, [20], PAPER, "x"), PAPER)
    assert "0.800 ± 0.141 (2 seeds)" in md


def test_written_files_hold_one_line_per_cell(tmp_path) -> None:
    import json

    files = []
    for i, cell in enumerate([_cell(), _cell(size="all")]):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(cell))
        files.append(path)
    frame = write_table4(files, [20, "all"], PAPER, "x", tmp_path / "t.csv", tmp_path / "t.md")
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(frame) == 2
    assert (tmp_path / "t.md").read_text().startswith("## Table 4")
