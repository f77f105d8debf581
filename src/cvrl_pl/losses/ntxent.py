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
    negative_max: torch.Tensor  # (rho n,): its largest logit with a clip of another video


class _NegativeLogSumExp(torch.autograd.Function):
    """Per anchor, log sum exp of its logits with every clip of the other videos, and their max (no gradient).

    One (rho n, rho N) buffer lives from forward to backward, against three for autograd's masked copy plus
    logsumexp: the logits are masked in place, and backward turns them into their softmax weights.
    """

    @staticmethod
    def forward(ctx, anchors: torch.Tensor, candidates: torch.Tensor, own: torch.Tensor):
        logits = (anchors @ candidates.T).scatter_(1, own, float("-inf"))  # own video's columns left out
        lse = torch.logsumexp(logits, dim=1)
        ctx.save_for_backward(anchors, candidates, logits, lse)
        ctx.mark_non_differentiable(top := logits.amax(dim=1))
        return lse, top

    @staticmethod
    def backward(ctx, grad_lse: torch.Tensor, _grad_top: torch.Tensor):
        anchors, candidates, logits, lse = ctx.saved_tensors
        # d lse / d logit is the softmax: 0 where masked (also in a batch of one video: no negatives, lse = -inf)
        lse = lse.clamp(min=torch.finfo(lse.dtype).min)
        weights = (logits - lse[:, None]).exp_().mul_(grad_lse[:, None])
        return weights @ candidates, weights.T @ anchors, None


def ntxent(views: tuple[torch.Tensor, ...] | list[torch.Tensor], temperature: float) -> NTXentOutput:
    """NT-Xent of rho views (N, D) of the same N videos (row i of each is video i), averaged over this rank's
    positive pairs."""
    rho = len(views)
    if rho < 2 or any(v.dim() != 2 or v.shape != views[0].shape for v in views):
        raise ValueError(f"NT-Xent needs two or more views, all (N, D); got {[tuple(v.shape) for v in views]}")
    device = views[0].device
    stacked = torch.stack(views, dim=1)  # (n, rho, D)
    with torch.autocast(device.type, enabled=False):  # at least float32 under bf16-mixed too; gradients cast back
        return _ntxent(F.normalize(stacked.to(torch.promote_types(stacked.dtype, torch.float32)), dim=2), temperature)


def _ntxent(local: torch.Tensor, temperature: float) -> NTXentOutput:
    """The loss of this rank's L2-normalised views (n, rho, D) against those of every rank."""
    n, rho, device = local.shape[0], local.shape[1], local.device
    everyone, offset = gather_with_grad(local)  # (N, rho, D), L2-normalised: one collective for all views
    big_n = everyone.shape[0]
    anchors = local.transpose(0, 1).reshape(rho * n, -1) / temperature  # row v n + i: view v of local video i
    candidates = everyone.transpose(0, 1).reshape(rho * big_n, -1)  # column w N + g: view w of global video g
    # The columns of each anchor's own video, (rho n, rho): itself in its own view, its positives in the others.
    video = (torch.arange(n, device=device) + offset).repeat(rho)
    own = video[:, None] + big_n * torch.arange(rho, device=device)[None, :]
    others = torch.arange(rho, device=device)[None, :] != torch.arange(rho, device=device).repeat_interleave(n)[:, None]
    positive_cols = own[others].view(rho * n, rho - 1)
    positives = torch.einsum("ad,apd->ap", anchors, candidates[positive_cols])
    negative_lse, negative_max = _NegativeLogSumExp.apply(anchors, candidates, own)
    per_pair = torch.logaddexp(positives, negative_lse[:, None]) - positives
    return NTXentOutput(per_pair.mean(), positives, negative_max)


class NTXentLoss(nn.Module):
    """NT-Xent on L2-normalised projections; ``loss(z1, z2, ...)`` with rho >= 2 views of shape (N, D) returns a
    scalar."""

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def compute(self, *views: torch.Tensor) -> NTXentOutput:
        """The loss together with the positive logits and the largest negative ones (for the positive-retrieval
        accuracy)."""
        return ntxent(views, self.temperature)

    def forward(self, *views: torch.Tensor) -> torch.Tensor:
        return self.compute(*views).loss


def update_scale(kind: str, world_size: int) -> tuple[float, float]:
    """(loss factor, weight-decay factor) of ``loss.update_scale``: ``mean`` is ours, (1, 1). ``official`` gives the
    official TensorFlow code's update (docs/recipe.md): it minimises loss_a + loss_b, the SUM of both directions'
    means (twice our mean at rho = 2); it does not divide by the replicas while Keras sums their gradients
    (``world_size`` times DDP's average); and each replica adds its L2 term, wd * sum(kernel ** 2) / 2, to its loss
    (``world_size`` times the decay)."""
    if kind == "mean":
        return 1.0, 1.0
    if kind == "official":
        return 2.0 * world_size, float(world_size)
    raise ValueError(f"unknown update scale '{kind}'; choose mean or official")


def positive_top1(out: NTXentOutput) -> torch.Tensor:
    """Fraction of anchors whose nearest neighbour in the global batch (themselves left out) is one of their
    positives."""
    return (out.positives.amax(dim=1) > out.negative_max).float().mean()
