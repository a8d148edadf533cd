from e2e_mammo.plan.evaluations import paper_numbers, paper_table4_aucs


def test_paper_numbers_are_each_rows_auc_and_a_auc() -> None:
    table2 = [{"row": "a", "paper_auc": 0.85, "paper_a_auc": 0.87, "arch": "resnet50"}]
    table3 = [{"row": "b", "paper_auc": 0.83}]
    assert paper_numbers(table2, table3) == {
        "a": {"paper_auc": 0.85, "paper_a_auc": 0.87},
        "b": {"paper_auc": 0.83, "paper_a_auc": None},
    }


def test_table4_aucs_are_keyed_by_size_label() -> None:
    table4 = [{"size": 20, "paper_auc": {"VGG-VGG": 0.87}}, {"size": "All", "paper_auc": None}]
    assert paper_table4_aucs(table4) == {"20": {"VGG-VGG": 0.87}, "all": {}}
