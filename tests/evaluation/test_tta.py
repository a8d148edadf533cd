import torch
from torch import nn

from e2e_mammo.evaluation.tta import (
    CPU_SPLIT_PIXELS,
    flip_tta_probs,
    flip_views,
    one_pass_is_faster,
    over_flip_views,
)


class Probe(nn.Module):
    """Records each call's batch size; its outputs depend on each image alone."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def forward(self, x):
        self.calls.append(x.shape[0])
        return x.flatten(1)[:, :2] * torch.arange(1.0, 3.0)


def test_views_are_original_h_v_and_both_flips():
    x = torch.arange(4.0).view(1, 1, 2, 2)
    views = flip_views(x)
    assert torch.equal(views[1], x[0].flip(2)) and torch.equal(views[2], x[0].flip(1))
    assert torch.equal(views[3], x[0].flip((1, 2)))


def test_small_images_go_as_one_batch_of_four_views():
    probe = Probe()
    logits, probs = flip_tta_probs(probe, torch.rand(3, 1, 2, 2))
    assert probe.calls == [12] and logits.shape == (3, 2) and probs.shape == (3, 2)


def test_large_images_on_the_cpu_go_one_view_at_a_time():
    side = int(CPU_SPLIT_PIXELS**0.5) + 1
    probe = Probe()
    flip_tta_probs(probe, torch.rand(2, 1, side, side))
    assert probe.calls == [2, 2, 2, 2]


def test_both_ways_give_the_same_outputs_in_the_same_order():
    x = torch.rand(2, 1, 4, 4)
    assert torch.equal(over_flip_views(Probe(), x), Probe()(flip_views(x)))
    big = torch.rand(2, 1, *(int(CPU_SPLIT_PIXELS**0.5) + 1,) * 2)
    assert torch.equal(over_flip_views(Probe(), big), Probe()(flip_views(big)))


def test_off_the_cpu_one_batch_is_used_at_any_size():
    x = torch.empty(1, 1, 4000, 4000, device="meta")
    assert one_pass_is_faster(x)
