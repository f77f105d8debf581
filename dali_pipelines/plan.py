"""Epoch plans: which videos each shard (rank) reads in an epoch, in which order.

Every shard shuffles with the same seed, so the shards of an epoch are disjoint slices of one permutation, and all
have the same number of whole batches, so a DDP step never meets an empty batch on one rank.
"""

from __future__ import annotations

import numpy as np


def epoch_plan(
    num_videos: int,
    num_shards: int,
    shard_id: int,
    batch_size: int,
    *,
    epoch: int,
    seed: int,
    shuffle: bool = True,
    drop_last: bool = False,
) -> np.ndarray:
    """Video ids this shard reads in ``epoch``, a whole number of batches long, with equal length on all shards.

    ``drop_last=False`` (FILL) pads with videos from the start of the order so that every video is read at least
    once; ``True`` (DROP) reads each video at most once.
    """
    if num_videos < 1:
        raise ValueError("an epoch needs at least one video")
    order = np.random.default_rng([seed, epoch]).permutation(num_videos) if shuffle else np.arange(num_videos)
    if drop_last:
        per_shard = num_videos // num_shards
        steps = per_shard // batch_size
        if steps == 0:
            raise ValueError(
                f"{num_videos} videos over {num_shards} shards do not fill one batch of {batch_size}; "
                "use last_batch=fill or a smaller batch"
            )
    else:
        per_shard = -(-num_videos // num_shards)
        steps = -(-per_shard // batch_size)
    order = np.resize(order, per_shard * num_shards)  # np.resize repeats from the start: FILL's padding
    shard = order[shard_id * per_shard : (shard_id + 1) * per_shard]
    return np.resize(shard, steps * batch_size).astype(np.int64)
