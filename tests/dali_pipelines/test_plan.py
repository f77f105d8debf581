"""Epoch plans: equal whole batches on every shard, disjoint shards covering the index, a new order each epoch."""

import numpy as np
import pytest

from dali_pipelines.plan import EpochPlan, Permutation


@pytest.mark.parametrize(
    ("n", "shards", "batch", "drop"),
    [(6, 2, 3, False), (5, 2, 2, False), (10, 3, 2, True), (101, 4, 8, False), (7, 1, 3, False), (9, 2, 2, True)],
)
def test_epoch_plans_partition_the_index(n, shards, batch, drop):
    for epoch in range(3):
        plans = [EpochPlan(n, shards, r, batch, epoch=epoch, seed=7, drop_last=drop).items() for r in range(shards)]
        assert len({len(p) for p in plans}) == 1 and len(plans[0]) % batch == 0  # equal whole batches
        seen = np.concatenate(plans)
        if drop:
            assert len(seen) == len(set(seen.tolist()))  # each video at most once
            assert len(seen) >= n - shards * batch - shards  # and only the remainder dropped
        else:
            assert set(seen.tolist()) == set(range(n))  # every video, at least once
            per_shard = -(-n // shards)
            unique_per_shard = [set(p[:per_shard].tolist()) for p in plans]
            assert sum(map(len, unique_per_shard)) == per_shard * shards
    assert not np.array_equal(
        EpochPlan(50, 1, 0, 5, epoch=0, seed=7).items(), EpochPlan(50, 1, 0, 5, epoch=1, seed=7).items()
    )  # reshuffled


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 64, 65, 1000, 4097, 100_000])  # 100k: 17 bits, several blocks
def test_the_permutation_is_a_bijection_of_every_size(n):
    for key in ([0, 0], [7, 3]):
        order = Permutation(n, key)(np.arange(n))
        assert sorted(order.tolist()) == list(range(n))
    if n >= 64:  # a shuffle, not the identity or a rotation, and no trace of the positions' order left in it
        assert (np.diff(order) == 1).mean() < 0.2
        assert abs(np.corrcoef(np.arange(n), order)[0, 1]) < 0.25


def test_a_position_is_looked_up_without_the_whole_plan():
    plan = EpochPlan(10**9, 8, 5, 64, epoch=3, seed=1)  # a billion videos: no array of them is ever made
    assert len(plan) == -(-(10**9 // 8) // 64) * 64
    items = plan.at(np.arange(1000))
    assert [plan[i] for i in range(0, 1000, 97)] == items[::97].tolist()
    assert plan[-1] == plan[len(plan) - 1]
    with pytest.raises(IndexError, match="outside a plan"):
        plan[len(plan)]
    small = EpochPlan(101, 4, 2, 8, epoch=0, seed=7)
    assert small.items().tolist() == [small[i] for i in range(len(small))]
    assert small.items().tolist() == EpochPlan(101, 4, 2, 8, epoch=0, seed=7).items().tolist()  # deterministic
    assert small.items().tolist() != EpochPlan(101, 4, 2, 8, epoch=0, seed=8).items().tolist()  # seeded
