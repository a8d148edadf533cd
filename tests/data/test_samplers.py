from e2e_mammo.data.samplers import EpochBatchSampler, epoch_seed


def batches(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_same_epoch_gives_the_same_order():
    a, b = EpochBatchSampler(20, 6, seed=1), EpochBatchSampler(20, 6, seed=1)
    assert batches(a, 3) == batches(b, 3)


def test_epochs_shuffle_differently_and_cover_every_index():
    sampler = EpochBatchSampler(20, 6, seed=1)
    first, second = batches(sampler, 0), batches(sampler, 1)
    assert first != second
    assert sorted(i for b in first for i in b) == list(range(20))


def test_resuming_at_an_epoch_needs_no_earlier_epochs():
    fresh = EpochBatchSampler(20, 6, seed=1)
    used = EpochBatchSampler(20, 6, seed=1)
    for epoch in range(4):
        batches(used, epoch)
    assert batches(fresh, 4) == batches(used, 4)


def test_unshuffled_batches_keep_order():
    assert batches(EpochBatchSampler(5, 2, shuffle=False), 7) == [[0, 1], [2, 3], [4]]


def test_trailing_single_sample_dropped_when_asked():
    sampler = EpochBatchSampler(5, 2, shuffle=False, drop_single=True)
    assert batches(sampler, 0) == [[0, 1], [2, 3]] and len(sampler) == 2


def test_epoch_seed_depends_on_every_part():
    seeds = {epoch_seed(1, 0, 0), epoch_seed(2, 0, 0), epoch_seed(1, 1, 0), epoch_seed(1, 0, 1)}
    assert len(seeds) == 4
