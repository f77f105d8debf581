"""Collectives over the ranks of a run, shared by the loss, the probes and the classifier: gathers with and
without gradient, the per-device share of a global batch, and dropping the repeats that padding adds.

Every function is a no-op in a single process, so the same code runs with and without DDP. Gathers assume the
same shape on every rank: the epoch plans (dali_pipelines/plan.py) give every rank the same number of samples.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from cvrl_pl.errors import ConfigError


def is_distributed() -> bool:
    """Whether a process group of more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def per_device_batch(global_batch: int, world_size: int) -> int:
    """The share of the global batch each device trains on; an uneven split is a config error."""
    if global_batch % world_size:
        raise ConfigError(f"data.batch_size={global_batch} is not divisible by the {world_size} devices in use")
    return global_batch // world_size


def gather(x: torch.Tensor) -> torch.Tensor:
    """``x`` of every rank concatenated along the first axis, rank 0's first (no gradient flows back)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums the incoming gradients over ranks and returns this rank's slice.

    Rank r's loss depends on every rank's embeddings, so the gradient of an embedding made on rank q is the sum
    of the gradients that all ranks' losses send to it. A plain all_gather returns no gradient at all.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        n = grad.shape[0] // dist.get_world_size()
        rank = dist.get_rank()
        return grad[rank * n : (rank + 1) * n]


def gather_with_grad(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``x`` of every rank concatenated, with gradients flowing back to the rank that made each row; and this
    rank's row offset in the result."""
    if not is_distributed():
        return x, 0
    return _GatherWithGrad.apply(x), dist.get_rank() * x.shape[0]


def unique_samples(video_ids: torch.Tensor, clip_ids: torch.Tensor) -> torch.Tensor:
    """Row indices of the first occurrence of each (video, clip) pair, ordered by (video, clip).

    FILL padding repeats samples so that every rank reads whole, equal batches; after a gather a repeated pair
    would count twice in an average, so it is dropped.
    """
    pairs = torch.stack([video_ids, clip_ids], dim=1)
    unique, inverse = torch.unique(pairs, dim=0, return_inverse=True)
    first = torch.full((len(unique),), len(pairs), dtype=torch.long, device=pairs.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(pairs), device=pairs.device), reduce="amin")
    return first
