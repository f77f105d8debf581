"""The collectives the loss, the probes and the classifier share: per-device batches, dropping padded repeats,
and gathers with and without gradient, in one process and over 2 gloo processes."""

from __future__ import annotations

import pytest
import torch

from cvrl_pl.errors import ConfigError
from cvrl_pl.runtime.distributed import gather, gather_with_grad, is_distributed, per_device_batch, unique_samples
from tests.helpers.ddp import run_gloo


def test_per_device_batch_splits_evenly_or_names_the_key():
    assert per_device_batch(1024, 8) == 128
    with pytest.raises(ConfigError, match=r"data.batch_size=10 is not divisible by the 4 devices"):
        per_device_batch(10, 4)


def test_unique_samples_keeps_the_first_of_each_pair():
    videos = torch.tensor([3, 1, 3, 1, 2, 3])
    clips = torch.tensor([0, 0, 1, 0, 0, 0])  # rows 3 and 5 repeat rows 1 and 0 (padding)
    first = unique_samples(videos, clips)
    assert first.tolist() == [1, 4, 0, 2]  # ordered by (video, clip): (1,0) (2,0) (3,0) (3,1)


def test_single_process_is_a_no_op():
    x = torch.arange(6.0).view(3, 2)
    assert not is_distributed()
    assert gather(x) is x
    y, offset = gather_with_grad(x)
    assert y is x and offset == 0


def _rank(rank: int, world: int) -> dict:
    x = torch.full((2, 3), float(rank + 1), requires_grad=True)
    gathered, offset = gather_with_grad(x)
    # Every rank's loss weighs rank q's rows by (q + 1): the gradient that reaches rank r sums over both ranks.
    weights = torch.arange(1.0, world + 1).repeat_interleave(2)[:, None]
    (gathered * weights).sum().backward()
    return {
        "plain": gather(torch.tensor([rank, 10 + rank])).tolist(),
        "with_grad": gathered.detach().tolist(),
        "offset": offset,
        "grad": x.grad.tolist(),
        "distributed": is_distributed(),
    }


def test_gathers_over_two_ranks():
    results = run_gloo(2, _rank)
    for rank, r in enumerate(results):
        assert r["distributed"]
        assert r["plain"] == [0, 10, 1, 11]
        assert r["with_grad"] == [[1.0] * 3] * 2 + [[2.0] * 3] * 2
        assert r["offset"] == 2 * rank
        # d/dx of sum over 2 ranks of (weight of this rank's rows) * x = 2 * (rank + 1)
        assert r["grad"] == [[2.0 * (rank + 1)] * 3] * 2
