import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from e2e_mammo.evaluation.metrics import accuracy, roc_auc


def test_binary_auc_is_sklearns_on_the_malignant_probability():
    labels = np.array([0, 1, 1, 0, 1])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.1, 0.9]])
    assert roc_auc(labels, probs) == pytest.approx(roc_auc_score(labels, probs[:, 1]))


def test_multiclass_auc_is_the_mean_one_vs_rest_over_present_classes():
    labels = np.array([0, 1, 2, 0, 2])
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=5)
    expected = np.mean([roc_auc_score(labels == k, probs[:, k]) for k in (0, 1, 2)])
    assert roc_auc(labels, probs) == pytest.approx(expected)


def test_auc_of_one_class_is_nan():
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([[0.1, 0.9], [0.2, 0.8]])))


def test_accuracy_counts_argmax_hits():
    assert accuracy(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]])) == 0.5
