"""Linear probes: one linear layer trained on frozen, cached, L2-normalised features (seconds, not epochs of video).
The layer may be given: the probe callback passes the registry's head (models.heads, ``probe.head``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 100,
    lr: float = 0.1,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    seed: int = 0,
    layer: nn.Linear | None = None,
) -> nn.Linear:
    """Train a linear classifier (``layer``, freshly initialised; None: a new nn.Linear) on L2-normalised
    ``features`` with Adam and a cosine schedule.

    The normalised features are standardised per dimension while training (a well-conditioned problem for a few
    hundred steps) and the standardisation is folded into the returned layer, which stays linear in them.
    """
    gen = torch.Generator().manual_seed(seed)
    x = F.normalize(features.float(), dim=1)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    probe = nn.Linear(x.shape[1], num_classes) if layer is None else layer
    if (probe.in_features, probe.out_features) != (x.shape[1], num_classes):
        raise ValueError(f"a probe of {x.shape[1]} features and {num_classes} classes, given {probe}")
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=gen).split(batch_size):
            loss = F.cross_entropy(probe(x[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    with torch.no_grad():  # fold: W ((x - mean) / std) + b == (W / std) x + (b - (W / std) mean)
        probe.weight.div_(std)
        probe.bias.sub_(probe.weight @ mean)
    return probe.eval()


@torch.no_grad()
def probe_scores(probe: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """Class scores of a fitted probe on (normalised) ``features``."""
    return probe(F.normalize(features.float(), dim=1))
