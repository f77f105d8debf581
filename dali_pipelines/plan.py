"""Epoch plans: which videos each shard (rank) reads in an epoch, in which order.

Every shard shuffles with the same seed, so the shards of an epoch are disjoint slices of one permutation, and all
have the same number of whole batches, so a DDP step never meets an empty batch on one rank.

The permutation is never stored: position p of an epoch's order is a keyed bijection of [0, n) (a Feistel network
on the next power of four, walked until it lands inside [0, n)), so a source worker finds its sample's video in
O(1) time and memory, however many videos the dataset holds (10M videos would be an 80 MB array per worker).
"""

from __future__ import annotations

import numpy as np

_ROUNDS = 6
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a cheap hash of uint64 values (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


class Permutation:
    """A pseudo-random permutation of [0, n) drawn from ``key``, evaluated at any positions without storing it."""

    def __init__(self, n: int, key: list[int]):
        self.n = n
        bits = max(2, int(n - 1).bit_length())
        self.half = np.uint64((bits + 1) // 2)
        self.mask = np.uint64((1 << int(self.half)) - 1)
        self.keys = np.random.default_rng(key).integers(0, 2**63, _ROUNDS, dtype=np.uint64)

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self.half, x & self.mask
        for k in self.keys:
            left, right = right, left ^ (_mix(right ^ k) & self.mask)
        return (left << self.half) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        x = self._feistel(np.asarray(positions, np.uint64))
        outside = np.flatnonzero(x >= self.n)
        while outside.size:  # cycle walking: a bijection of the power-of-four domain, restricted to [0, n)
            x[outside] = self._feistel(x[outside])
            outside = outside[x[outside] >= self.n]
        return x.astype(np.int64)


class EpochPlan:
    """The items one shard reads in one epoch: a whole number of batches, the same length on every shard.

    ``drop_last=False`` (FILL) pads with items from the start of the epoch's order so that every item is read at
    least once; ``True`` (DROP) reads each item at most once. ``plan[i]`` costs O(1); ``items()`` is the array.
    """

    def __init__(
        self,
        num_items: int,
        num_shards: int,
        shard_id: int,
        batch_size: int,
        *,
        epoch: int,
        seed: int,
        shuffle: bool = True,
        drop_last: bool = False,
    ):
        if num_items < 1:
            raise ValueError("an epoch needs at least one video")
        if drop_last:
            self.per_shard = num_items // num_shards
            steps = self.per_shard // batch_size
            if steps == 0:
                raise ValueError(
                    f"{num_items} videos over {num_shards} shards do not fill one batch of {batch_size}; "
                    "use last_batch=fill or a smaller batch"
                )
        else:
            self.per_shard = -(-num_items // num_shards)
            steps = -(-self.per_shard // batch_size)
        self.n, self.first, self.length = num_items, shard_id * self.per_shard, steps * batch_size
        self.order = Permutation(num_items, [seed, epoch]) if shuffle else None

    def __len__(self) -> int:
        return self.length

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The items at ``positions`` (0 <= position < len) of this shard's plan."""
        # The shard's slice repeats to fill its batches, and the order repeats from its start to fill the shards.
        p = (self.first + np.asarray(positions, np.int64) % self.per_shard) % self.n
        return p if self.order is None else self.order(p)

    def __getitem__(self, i: int) -> int:
        if not -self.length <= i < self.length:
            raise IndexError(f"position {i} outside a plan of {self.length}")
        return int(self.at(np.array([i % self.length]))[0])

    def items(self) -> np.ndarray:
        return self.at(np.arange(self.length))
