"""The projection head that maps encoder features to the space where NT-Xent is computed."""

from __future__ import annotations

from torch import nn


class ProjectionHead(nn.Sequential):
    """``num_layers`` x [Linear(hidden_dim), BN, ReLU], then Linear(out_dim) (the paper: 3 x 2048, then 128)."""

    def __init__(self, in_dim: int, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 3):
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers += [nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            in_dim = hidden_dim
        layers.append(nn.Linear(in_dim, out_dim))
        super().__init__(*layers)
