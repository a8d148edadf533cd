import pytest

from e2e_mammo.plan.whole_rows import (
    PAPER_SWITCH,
    PatchChoice,
    check_row_names,
    choose_patch_row,
    not_run_reason,
    row_meta,
    row_status,
)

TABLE1 = [
    {"row": "resnet50-N-S10", "arch": "resnet50", "pretrained": "none", "patch_set": "S10"},
    {"row": "resnet50-Y-S10", "arch": "resnet50", "pretrained": "imagenet", "patch_set": "S10"},
    {"row": "vgg16-Y-S10", "arch": "vgg16", "pretrained": "imagenet", "patch_set": "S10"},
]
ROW = {
    "row": "r50-s10-res1024x2",
    "arch": "resnet50",
    "patch_set": "S10",
    "top": {"type": "resnet", "blocks": [[512, 512, 1024, 2], [512, 512, 1024, 2]]},
}


def test_pretrained_patch_row_preferred_when_it_trained():
    choice = choose_patch_row(TABLE1, ["resnet50-N-S10", "resnet50-Y-S10"], "resnet50", "S10")
    assert choice.row == "resnet50-Y-S10"
    assert choice.label == "ImageNet-pretrained, as the paper"


def test_random_init_patch_row_used_and_labelled_when_pretrained_did_not_train():
    choice = choose_patch_row(TABLE1, ["resnet50-N-S10"], "resnet50", "S10")
    assert choice.row == "resnet50-N-S10"
    assert choice.label == "random init; paper: ImageNet"


def test_no_trained_patch_row_gives_the_reason():
    choice = choose_patch_row(TABLE1, ["resnet50-N-S10"], "vgg16", "S10")
    assert choice.row is None
    assert "vgg16-Y-S10" in choice.reason


def test_row_outside_the_demo_list_is_not_in_demo():
    ok = PatchChoice("resnet50-N-S10", "x")
    assert row_status(ROW, ["other"], ok) == "not in demo"
    assert row_status(ROW, [ROW["row"]], ok) == "ok"
    assert row_status(ROW, "all", ok) == "ok"


def test_selected_row_without_patch_classifier_is_not_run():
    assert row_status(ROW, "all", PatchChoice(None, "", "none")) == "not run"


def test_not_in_demo_reason_names_the_switch():
    assert PAPER_SWITCH in not_run_reason("not in demo", PatchChoice("a", "b"))
    assert not_run_reason("not run", PatchChoice(None, "", "why")) == "why"


def test_row_meta_has_the_tables_cells_and_section():
    meta = row_meta(ROW, 2, PatchChoice("resnet50-N-S10", "label"))
    assert meta["cells"]["block1"] == "[512-512-1024] x 2"
    assert meta["section"] == "blocks" and meta["table"] == 2 and meta["patch_init"] == "label"
    assert meta["patch_model"] == "resnet50-N-S10"


def test_two_step_row_meta_has_no_cells():
    row = dict(ROW, top={"type": "two_step"})
    meta = row_meta(row, 2, PatchChoice("resnet50-N-S10", "label"))
    assert meta["cells"] == {} and meta["section"] == "two_step"


def _named(**changes) -> dict:
    config = {
        "table2": [{"row": "a"}],
        "table3": [{"row": "b"}],
        "whole_image": {"rows": ["a"]},
        "figures": {"fig2_rows": ["b"], "heatmap_row": "a"},
        "transfer": {"models": "ensemble"},
    }
    for key, value in changes.items():
        section, name = key.split("__")
        config[section][name] = value
    return config


def test_known_row_names_pass():
    check_row_names(_named())
    check_row_names(_named(whole_image__rows="all", transfer__models=["a", "b"]))


@pytest.mark.parametrize(
    "key, change",
    [
        ("whole_image.rows", {"whole_image__rows": ["a", "r50-typo"]}),
        ("figures.fig2_rows", {"figures__fig2_rows": ["r50-typo"]}),
        ("figures.heatmap_row", {"figures__heatmap_row": "r50-typo"}),
        ("transfer.models", {"transfer__models": ["r50-typo"]}),
    ],
)
def test_an_unknown_row_name_names_its_key_and_the_valid_rows(key, change):
    with pytest.raises(ValueError, match=rf"{key} names .*\['r50-typo'\] \(the rows: a, b\)"):
        check_row_names(_named(**change))
