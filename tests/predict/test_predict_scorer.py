"""The bundle as one scoring network: the pipeline's TTA score, member averaging, heatmaps."""

from __future__ import annotations

import pytest
import torch
from helpers.predict_cases import SIZE

from e2e_mammo.evaluation.tta import flip_tta_probs, flip_views
from e2e_mammo.models.bundle import load_bundle
from e2e_mammo.predict.scorer import bundle_scorer, unflip_mean


@pytest.fixture(scope="module")
def ensemble(predict_bundles):
    return load_bundle(predict_bundles["ensemble"])


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(0)
    return torch.rand(2, 1, *SIZE) * 255


def test_tta_score_is_the_pipelines_a_auc_score_averaged_over_members(ensemble, batch):
    with torch.no_grad():
        score, _ = bundle_scorer(ensemble)(batch)
        members = [flip_tta_probs(m.model, batch)[1][:, 1] for m in ensemble.members]
    torch.testing.assert_close(score, torch.stack(members).mean(0))


def test_without_tta_the_score_is_the_plain_softmax(ensemble, batch):
    with torch.no_grad():
        score, _ = bundle_scorer(ensemble, tta=False)(batch)
        members = [torch.softmax(m.model(batch), 1)[:, 1] for m in ensemble.members]
    torch.testing.assert_close(score, torch.stack(members).mean(0))


def test_heatmap_is_a_malignancy_probability_per_patch_position(ensemble, batch):
    with torch.no_grad():
        _, heatmap = bundle_scorer(ensemble)(batch)
    assert heatmap.shape[0] == 2 and heatmap.ndim == 3
    assert heatmap.min() >= 0 and heatmap.max() <= 1


def test_unflip_mean_undoes_each_flip():
    maps = torch.arange(6.0).view(1, 2, 3)
    flipped = flip_views(maps[:, None])[:, 0]
    torch.testing.assert_close(unflip_mean(flipped, 1), maps)
