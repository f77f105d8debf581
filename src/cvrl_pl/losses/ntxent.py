"""NT-Xent (SimCLR's normalised temperature-scaled cross-entropy) with negatives from the global batch.

Each rank scores its own 2n anchors against all 2N clips of the global batch (gathered from every rank), so
the cost per rank is 2n x 2N, not 2N x 2N. Gradients flow back through the gather to the rank that made each
embedding; with DDP's gradient averaging this equals the gradient of the loss over the whole global batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cvrl_pl.runtime.distributed import gather_with_grad


class NTXentOutput(NamedTuple):
    loss: torch.Tensor
    logits: torch.Tensor  # (2n, 2N): local anchors against every clip of the global batch, self masked
    targets: torch.Tensor  # (2n,): column of each anchor's positive


def ntxent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> NTXentOutput:
    """NT-Xent of paired projections z1[i] <-> z2[i], averaged over this rank's 2n anchors."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must both be (N, D); got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    all1, offset = gather_with_grad(z1)
    all2, _ = gather_with_grad(z2)
    big_n = all1.shape[0]
    candidates = torch.cat([all1, all2])  # (2N, D): view-1 clips, then view-2 clips
    anchors = torch.cat([z1, z2])  # (2n, D)
    logits = anchors @ candidates.T / temperature
    local = torch.arange(n, device=z1.device) + offset
    self_cols = torch.cat([local, local + big_n])
    targets = torch.cat([local + big_n, local])
    rows = torch.arange(2 * n, device=z1.device)
    # torch.full fills on the device; torch.tensor(-inf, device=...) would copy from the host every step.
    minus_inf = torch.full((), float("-inf"), dtype=logits.dtype, device=logits.device)
    logits = logits.index_put((rows, self_cols), minus_inf)
    return NTXentOutput(F.cross_entropy(logits, targets), logits, targets)


class NTXentLoss(nn.Module):
    """NT-Xent on L2-normalised projections; ``loss(z1, z2)`` with z1, z2 of shape (N, D) returns a scalar."""

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def compute(self, z1: torch.Tensor, z2: torch.Tensor) -> NTXentOutput:
        """The loss together with the logits and targets (for the positive-retrieval accuracy)."""
        return ntxent(z1, z2, self.temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return self.compute(z1, z2).loss


def positive_top1(out: NTXentOutput) -> torch.Tensor:
    """Fraction of anchors whose positive is their nearest neighbour in the global batch."""
    return (out.logits.argmax(dim=1) == out.targets).float().mean()
