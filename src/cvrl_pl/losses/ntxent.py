"""NT-Xent (SimCLR's normalised temperature-scaled cross-entropy) over rho >= 2 views, with negatives from the global
batch.

Every clip of a video is an anchor; each other clip of the same video is a positive, every clip of every other video
of the GLOBAL batch a negative. A positive pair (a, p) costs -log(exp(s_ap / t) / (exp(s_ap / t) + sum_n exp(s_an / t)))
(other positives are left out of its denominator), and the loss is the mean over all positive pairs: at rho = 2 each
anchor has one positive, and this is SimCLR's NT-Xent. Each rank scores its own rho n anchors against all rho N clips
(gathered from every rank), so the cost per rank is rho n x rho N. Gradients flow back through the gather to the rank
that made each embedding; with DDP's gradient averaging this equals the gradient of the loss over the global batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from cvrl_pl.runtime.distributed import gather_with_grad


class NTXentOutput(NamedTuple):
    loss: torch.Tensor
    positives: torch.Tensor  # (rho n, rho - 1): each local anchor's logits with the other clips of its video
    negatives: torch.Tensor  # (rho n, rho N): its logits with every clip of the global batch, own video's at -inf


def ntxent(views: tuple[torch.Tensor, ...] | list[torch.Tensor], temperature: float) -> NTXentOutput:
    """NT-Xent of rho views (N, D) of the same N videos (row i of each is video i), averaged over this rank's
    positive pairs."""
    rho = len(views)
    if rho < 2 or any(v.dim() != 2 or v.shape != views[0].shape for v in views):
        raise ValueError(f"NT-Xent needs two or more views, all (N, D); got {[tuple(v.shape) for v in views]}")
    n, device = views[0].shape[0], views[0].device
    local = F.normalize(torch.stack(views, dim=1), dim=2)  # (n, rho, D)
    everyone, offset = gather_with_grad(local)  # (N, rho, D): one collective for all views
    big_n = everyone.shape[0]
    anchors = local.transpose(0, 1).reshape(rho * n, -1)  # row v n + i: view v of local video i
    candidates = everyone.transpose(0, 1).reshape(rho * big_n, -1)  # column w N + g: view w of global video g
    logits = anchors @ candidates.T / temperature
    # The columns of each anchor's own video, (rho n, rho): itself in its own view, its positives in the others.
    video = (torch.arange(n, device=device) + offset).repeat(rho)
    own = video[:, None] + big_n * torch.arange(rho, device=device)[None, :]
    others = torch.arange(rho, device=device)[None, :] != torch.arange(rho, device=device).repeat_interleave(n)[:, None]
    positives = logits.gather(1, own[others].view(rho * n, rho - 1))
    # torch.full fills on the device; torch.tensor(-inf, device=...) would copy from the host every step.
    minus_inf = torch.full((), float("-inf"), dtype=logits.dtype, device=device)
    negatives = logits.scatter(1, own, minus_inf.expand(own.shape))
    per_pair = torch.logaddexp(positives, torch.logsumexp(negatives, dim=1, keepdim=True)) - positives
    return NTXentOutput(per_pair.mean(), positives, negatives)


class NTXentLoss(nn.Module):
    """NT-Xent on L2-normalised projections; ``loss(z1, z2, ...)`` with rho >= 2 views of shape (N, D) returns a
    scalar."""

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def compute(self, *views: torch.Tensor) -> NTXentOutput:
        """The loss together with the positive and negative logits (for the positive-retrieval accuracy)."""
        return ntxent(views, self.temperature)

    def forward(self, *views: torch.Tensor) -> torch.Tensor:
        return self.compute(*views).loss


def positive_top1(out: NTXentOutput) -> torch.Tensor:
    """Fraction of anchors whose nearest neighbour in the global batch (themselves left out) is one of their
    positives."""
    return (out.positives.amax(dim=1) > out.negatives.amax(dim=1)).float().mean()
