"""Heads on the encoder: the projection head that maps pooled features to the space where NT-Xent is computed, and
the registry of classification heads (``eval.head``) that linear evaluation and fine-tuning train on the encoder's
feature map (``R3D.forward_features``: B, C, T, H, W)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from cvrl_pl.models.attentive import AttentiveHead


class ProjectionHead(nn.Sequential):
    """``num_layers`` x [Linear(hidden_dim), BN, ReLU], then Linear(out_dim) (the paper: 3 x 2048, then 128)."""

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 3):
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers += [nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, out_dim))
        super().__init__(*layers)


class LinearHead(nn.Linear):
    """The feature map averaged over time and space, L2-normalised (``normalize``: linear evaluation on a frozen
    encoder), dropped out, then one linear layer: the paper's classifier. A Linear itself, so its parameters keep
    the names ``weight`` and ``bias`` that checkpoints hold."""

    def __init__(self, in_dim: int, num_classes: int, *, normalize: bool = False, dropout: float = 0.0):
        super().__init__(in_dim, num_classes)
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Logits from the feature map (B, C, T, H, W), or from features pooled already (B, C): the probes' cache."""
        features = F.adaptive_avg_pool3d(feature_map, 1).flatten(1) if feature_map.dim() == 5 else feature_map
        if self.normalize:
            features = F.normalize(features, dim=1)
        return super().forward(self.dropout(features))


class HeadGrid(nn.ModuleList):
    """Heads trained side by side on the same feature map (a learning-rate x weight-decay grid, eval.heads): the
    logits of every head, (heads, B, classes)."""

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        return torch.stack([head(feature_map) for head in self])


# name -> head(in_dim, num_classes, *, normalize, dropout, **options): a module from the feature map (B, C, T, H, W)
# to logits. A head with a ``config_section`` takes options built from eval.<section> (module.head_options).
HEADS: dict[str, Callable[..., nn.Module]] = {"linear": LinearHead, "attentive": AttentiveHead}


def build_head(
    name: str, in_dim: int, num_classes: int, *, normalize: bool, dropout: float, options: Mapping | None = None
) -> nn.Module:
    """The classification head ``name`` of HEADS, with its ``options`` if it takes any."""
    if name not in HEADS:
        raise ValueError(f"unknown head '{name}'; choose one of {', '.join(HEADS)}")
    return HEADS[name](in_dim, num_classes, normalize=normalize, dropout=dropout, **(options or {}))
