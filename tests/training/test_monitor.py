import math

import pytest

from e2e_mammo.training.monitor import improves, monitor_score


def test_scores_by_monitor():
    record = {"epoch": 4, "val_accuracy": 0.7, "val_auc": 0.8}
    assert monitor_score("val_accuracy", record) == 0.7
    assert monitor_score("val_auc", record) == 0.8
    assert monitor_score("last", record) == 4


def test_ties_and_nan_never_improve():
    assert not improves(0.5, 0.5) and not improves(math.nan, -math.inf)
    assert improves(0.6, 0.5)


def test_unknown_monitor_refused():
    with pytest.raises(ValueError, match="monitor"):
        monitor_score("val_loss", {})
