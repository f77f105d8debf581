"""UCF-RC's counting head (SEVERE's ``model.py``, ``Head``): on the encoder's pooled feature, for each of the scale
anchors a two-way classification (does the cycle match this scale of the current estimate?) and a regression of the
log ratio, once for the cycle before the position and once for the cycle after it: four linear layers."""

from __future__ import annotations

import torch
from torch import nn


class CountingHead(nn.Module):
    """Pooled features (B, C) -> (class logits before (B, 2, A), boxes before (B, A), the same after), for
    ``anchors`` scales (SEVERE's 7: cvrl_pl.counting.anchors.ANCHORS)."""

    def __init__(self, in_dim: int, anchors: int):
        super().__init__()
        self.anchors = anchors
        self.cls_before, self.box_before = nn.Linear(in_dim, 2 * anchors), nn.Linear(in_dim, anchors)
        self.cls_after, self.box_after = nn.Linear(in_dim, 2 * anchors), nn.Linear(in_dim, anchors)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # SEVERE reshapes the 2A logits to (2, A): the first A are every anchor's "no", the next A its "yes"
        before = self.cls_before(features).view(-1, 2, self.anchors)
        after = self.cls_after(features).view(-1, 2, self.anchors)
        return before, self.box_before(features), after, self.box_after(features)
