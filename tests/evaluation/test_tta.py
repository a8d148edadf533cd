import torch
from torch import nn

from e2e_mammo.evaluation.tta import flip_tta_probs, flip_views


def test_views_are_original_h_v_and_both_flips():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    views = flip_views(x)
    assert torch.equal(views[1], x[0].flip(2)) and torch.equal(views[2], x[0].flip(1))
    assert torch.equal(views[3], x[0].flip((1, 2)))


def test_one_forward_pass_of_four_views():
    calls = []

    class Probe(nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return x.flatten(1)[:, :2]

    logits, probs = flip_tta_probs(Probe(), torch.rand(3, 1, 2, 2))
    assert calls == [12] and logits.shape == (3, 2) and probs.shape == (3, 2)
