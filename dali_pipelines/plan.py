"""Epoch plans: which videos each shard (rank) reads in an epoch, in which order.

Every shard shuffles with the same seed, so the shards of an epoch are disjoint slices of one permutation, and all
have the same number of whole batches, so a DDP step never meets an empty batch on one rank.

The permutation is never stored: position p of an epoch's order is a keyed bijection of [0, n) (a Feistel network
on a rectangle of about n cells, walked until it lands inside [0, n)), so a source worker finds its sample's video in
O(1) time and memory, however many videos the dataset holds (10M videos would be an 80 MB array per worker).
"""

from __future__ import annotations

from math import isqrt

import numpy as np

# Rounds of the network: four with random round functions leave no trace of the positions (Luby-Rackoff's bound).
_ROUNDS = 4
BLOCK = 1 << 13  # positions permuted at once: 64 KiB temporaries stay in the CPU's cache (2^16 was slower, ad hoc)


class Permutation:
    """A pseudo-random permutation of [0, n) drawn from ``key``, evaluated at any positions without storing it.

    A Feistel network on pairs (u, v) in [0, a) x [0, b), a = ceil(sqrt(n)), b = ceil(n / a): a position is u * b + v,
    and a round makes (v, (u + T[v]) mod a), the table T of random values drawn from ``key``, the two sides' sizes
    trading places each round. a * b - n < a, so a position almost never lands outside [0, n) (it then walks on:
    cycle walking). Adding a looked-up value and one conditional subtraction is what NumPy does fastest: the plans of
    8 ranks for 70.7M videos (Panda-70M) take 4.1 s, where a power-of-four domain (3.8 walks a position) took 32.7 s
    (bench_scale.py, docs/benchmarks.md).
    """

    def __init__(self, n: int, key: list[int]):
        self.n = n
        self.sides = (isqrt(n - 1) + 1, -(-n // (isqrt(n - 1) + 1)))  # (a, b); (1, 1) for one video
        rng = np.random.default_rng(key)
        self.tables = []
        for r in range(_ROUNDS):  # (size of the changed side, its table: one value in [0, size) per other-side value)
            changed, looked_up = self.sides if r % 2 == 0 else self.sides[::-1]
            self.tables.append((changed, rng.integers(0, changed, looked_up)))

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        u, v = np.divmod(x, self.sides[1])
        for size, table in self.tables:
            w = u + table.take(v)
            u, v = v, w - size * (w >= size)  # (u + T[v]) mod size: the sum is below twice the size
        return u * self.sides[1] + v

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, np.int64)
        out = np.empty(positions.shape, np.int64)
        flat, result = positions.reshape(-1), out.reshape(-1)
        for start in range(0, len(flat), BLOCK):
            x = self._feistel(flat[start : start + BLOCK])
            outside = np.flatnonzero(x >= self.n)
            while outside.size:  # cycle walking: a bijection of [0, a * b), restricted to [0, n)
                x[outside] = self._feistel(x[outside])
                outside = outside[x[outside] >= self.n]
            result[start : start + BLOCK] = x
        return out


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
        p = np.asarray(positions, np.int64)
        if p.size and p.max() >= self.per_shard:  # modulo only where needed: an int64 division costs ~10 ns a value
            p = p % self.per_shard
        p = self.first + p
        if p.size and p.max() >= self.n:
            p %= self.n
        return p if self.order is None else self.order(p)

    def __getitem__(self, i: int) -> int:
        if not -self.length <= i < self.length:
            raise IndexError(f"position {i} outside a plan of {self.length}")
        return int(self.at(np.array([i % self.length]))[0])

    def items(self) -> np.ndarray:
        return self.at(np.arange(self.length))
