"""EpochOrder: the order pairs are drawn in (full batches across epochs, exact resume, ranks)."""

import itertools
from collections import Counter

from livo_train.data import EpochOrder


def take(it, n):
    return list(itertools.islice(it, n))


def test_each_pair_once_per_epoch_and_batches_run_into_the_next_epoch():
    order = EpochOrder(10, seed=3)
    drawn = take(order.stream(), 30)
    for epoch in range(3):
        assert sorted(i for e, i in drawn if e == epoch) == list(range(10))
    assert [i for e, i in drawn[:10]] != [i for e, i in drawn[10:20]]  # reshuffled per epoch
    batches = [drawn[k:k + 4] for k in range(0, 28, 4)]
    assert all(len(b) == 4 for b in batches)
    assert {e for e, _ in batches[2]} == {0, 1}  # the third batch of 4 straddles the epoch boundary


def test_stream_from_a_position_continues_exactly_where_it_stopped():
    order = EpochOrder(7, seed=0)
    whole = take(order.stream(), 40)
    for position in (0, 5, 7, 13, 21):
        assert take(EpochOrder(7, seed=0).stream(position), 40 - position) == whole[position:]


def test_ranks_split_each_epoch_evenly_and_cover_every_pair():
    ranks = [EpochOrder(9, seed=1, rank=r, world=2) for r in range(2)]
    assert all(r.per_rank() == 5 for r in ranks)
    epoch0 = [i for r in ranks for e, i in take(r.stream(), 5)]
    assert set(epoch0) == set(range(9)) and max(Counter(epoch0).values()) <= 2
