"""Epoch plans: equal whole batches on every shard, disjoint shards covering the index, a new order each epoch."""

import numpy as np
import pytest

from dali_pipelines.plan import epoch_plan


@pytest.mark.parametrize(
    ("n", "shards", "batch", "drop"),
    [(6, 2, 3, False), (5, 2, 2, False), (10, 3, 2, True), (101, 4, 8, False), (7, 1, 3, False), (9, 2, 2, True)],
)
def test_epoch_plans_partition_the_index(n, shards, batch, drop):
    for epoch in range(3):
        plans = [epoch_plan(n, shards, r, batch, epoch=epoch, seed=7, drop_last=drop) for r in range(shards)]
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
        epoch_plan(50, 1, 0, 5, epoch=0, seed=7), epoch_plan(50, 1, 0, 5, epoch=1, seed=7)
    )  # reshuffled
