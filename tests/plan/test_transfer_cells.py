"""The INbreast sweep's plan: sizes that train, cells, control, checks."""

import pytest

from e2e_mammo.plan.transfer_cells import (
    NOT_RUN_NOTE,
    cell_dir,
    check_transfer,
    control_row,
    paper_table4,
    run_sizes,
    sweep_cells,
)


def _transfer(**changes) -> dict:
    transfer = {
        "models": "ensemble",
        "sweep": {"sizes": [20, 30, "all"], "reference_patients": 72, "seeds": [1, 2], "run": [20]},
        "ensemble_size": 20,
        "control": {"row": "first_member", "seeds": [1, 7], "seed_sizes": []},
    }
    transfer.update(changes)
    return transfer


def test_run_sizes_follow_the_sweep_order() -> None:
    sweep = {"sizes": [20, 30, "all"], "run": ["all", 20]}
    assert run_sizes(_transfer(sweep=sweep)) == ["20", "all"]
    assert run_sizes(_transfer(sweep={"sizes": [20, "all"], "run": "all"})) == ["20", "all"]


def test_run_size_outside_the_sweep_is_refused() -> None:
    with pytest.raises(ValueError, match=r"transfer.sweep.run .*\['50'\]"):
        run_sizes(_transfer(sweep={"sizes": [20], "run": [50]}))


def test_ensemble_size_must_train() -> None:
    with pytest.raises(ValueError, match="transfer.ensemble_size"):
        check_transfer(_transfer(ensemble_size="all"), ["a"])


def test_named_rows_must_train() -> None:
    with pytest.raises(ValueError, match=r"\['b'\]"):
        check_transfer(_transfer(models=["a", "b"]), ["a"])
    with pytest.raises(ValueError, match=r"\['c'\]"):
        check_transfer(_transfer(control={"row": "c", "seeds": [1], "seed_sizes": []}), ["a"])
    check_transfer(_transfer(models=["a"]), ["a"])


def test_control_is_the_first_member_or_the_named_row() -> None:
    assert control_row(_transfer(), ["m1", "m2"]) == "m1"
    assert control_row(_transfer(control={"row": "x"}), ["m1"]) == "x"


def test_both_arms_of_the_control_run_the_control_seeds_at_its_sizes() -> None:
    sweep = {"sizes": [20, 30], "reference_patients": 72, "seeds": [1], "run": "all"}
    control = {"row": "first_member", "seeds": [1, 7, 9], "seed_sizes": [20]}
    cells = sweep_cells(_transfer(sweep=sweep, control=control), ["m1", "m2"])
    assert sorted(c[3] for c in cells if c[:3] == ("whole_image", "m1", "20")) == [1, 7, 9]
    assert sorted(c[3] for c in cells if c[:3] == ("patch_only", "m1", "20")) == [1, 7, 9]
    # the other model, and the other size, run the sweep's seeds only
    assert [c[3] for c in cells if c[:3] == ("whole_image", "m2", "20")] == [1]
    assert [c[3] for c in cells if c[:3] == ("patch_only", "m1", "30")] == [1]


def test_cells_cover_models_sizes_seeds_and_the_control() -> None:
    cells = sweep_cells(_transfer(), ["m1", "m2"])
    assert ("whole_image", "m2", "20", 2) in cells and ("patch_only", "m1", "20", 1) in cells
    assert len(cells) == 2 * 1 * 2 + 1 * 1 * 2


def test_cell_dir_names_every_coordinate() -> None:
    assert cell_dir("patch_only", "m", "ALL", 7) == "results/transfer/patch_only/m/nall-s7"


def test_paper_table4_is_keyed_by_size_label() -> None:
    table = paper_table4([{"size": "all", "paper_patients": 72, "paper_images": 280}])
    assert table == {"all": {"paper_patients": 72, "paper_images": 280}}


def test_not_run_note_names_the_switch() -> None:
    assert "transfer.sweep.run: all" in NOT_RUN_NOTE
