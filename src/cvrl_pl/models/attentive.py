"""The attentive probe's head: a learnable query cross-attends to the encoder's feature map taken as tokens, so the
probe can weigh time and space instead of averaging them (V-JEPA, Bardes et al. 2024: the attentive pooler and the
cross-attention block of github.com/facebookresearch/jepa; V-JEPA 2 puts self-attention blocks before it).

A CNN's map (B, C, T, H, W) carries no position of its own: the tokens, projected from C to ``width`` channels
(R3D-50's 2048 would make one block about 50M parameters), get a learnable temporal and a learnable spatial
embedding (VideoGLUE's Table 9: a temporal one raised frozen SSv2 from 30.3 to 40.6). The embeddings are learnt on
``grid``, the training clips' map, and interpolated to another map's size (the test views' larger crops).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PoolerSpec:
    """The pooler's shape: token width, self-attention blocks before the cross-attention (V-JEPA 0, V-JEPA 2 3),
    attention heads (dividing the width) and the MLP's hidden width over the token width."""

    width: int = 512
    self_blocks: int = 0
    heads: int = 16
    mlp_ratio: float = 4.0


class MLP(nn.Sequential):
    def __init__(self, width: int, ratio: float):
        hidden = int(width * ratio)
        super().__init__(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))


class Block(nn.Module):
    """A pre-norm transformer block's parts: the two LayerNorms, multi-head attention with qkv bias, the MLP."""

    def __init__(self, spec: PoolerSpec):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(spec.width), nn.LayerNorm(spec.width)
        self.attn = nn.MultiheadAttention(spec.width, spec.heads, bias=True, batch_first=True)
        self.mlp = MLP(spec.width, spec.mlp_ratio)


class SelfAttentionBlock(Block):
    """x = x + attn(norm(x)); x = x + mlp(norm(x))."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, key_padding_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class CrossAttentionBlock(Block):
    """q = q + attn(q, norm(x)); q = q + mlp(norm(q)), V-JEPA's (the query itself is not normalised)."""

    def forward(self, q: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.norm1(x)
        q = q + self.attn(q, y, y, key_padding_mask=mask, need_weights=False)[0]
        return q + self.mlp(self.norm2(q))


class AttentivePooler(nn.Module):
    """Tokens (B, N, width) -> one pooled vector (B, width): ``self_blocks`` self-attention blocks, then one
    learnable query cross-attending to them. ``mask`` (B, N), True where a token is padding, hides tokens."""

    def __init__(self, spec: PoolerSpec):
        super().__init__()
        if spec.width % spec.heads:
            raise ValueError(f"the attentive probe's heads ({spec.heads}) must divide its width ({spec.width})")
        self.query = nn.Parameter(torch.zeros(1, 1, spec.width))
        self.blocks = nn.ModuleList(SelfAttentionBlock(spec) for _ in range(spec.self_blocks))
        self.cross = CrossAttentionBlock(spec)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            tokens = block(tokens, mask)
        return self.cross(self.query.expand(len(tokens), -1, -1), tokens, mask).squeeze(1)


class AttentiveHead(nn.Module):
    """The feature map (B, C, T, H, W) -> logits: tokens projected to ``spec.width``, plus temporal and spatial
    position embeddings learnt on ``grid`` (T, H, W), pooled by an AttentivePooler, dropped out, then a linear
    classifier. ``normalize`` is the linear head's and has no meaning here: the blocks normalise the tokens."""

    config_section = "attentive"  # its PoolerSpec comes from eval.attentive (module.ClassifierModule)

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        *,
        normalize: bool = False,
        dropout: float = 0.0,
        spec: PoolerSpec = PoolerSpec(),
        grid: tuple[int, int, int] = (1, 1, 1),
    ):
        super().__init__()
        self.grid = tuple(grid)
        self.project = nn.Linear(in_dim, spec.width)
        # (1, width, T) and (1, width, H W): 3-D, which a module's channels_last_3d conversion leaves as they are
        self.time = nn.Parameter(torch.zeros(1, spec.width, self.grid[0]))
        self.space = nn.Parameter(torch.zeros(1, spec.width, self.grid[1] * self.grid[2]))
        self.pooler = AttentivePooler(spec)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(spec.width, num_classes)
        for p in (self.time, self.space):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def positions(self, t: int, h: int, w: int) -> torch.Tensor:
        """The position embeddings of a (t, h, w) map, (t h w, width): learnt on ``grid``, interpolated to others."""
        time = self.time if t == self.grid[0] else F.interpolate(self.time, size=t, mode="linear")
        space = self.space.unflatten(2, self.grid[1:])
        if (h, w) != self.grid[1:]:
            space = F.interpolate(space, size=(h, w), mode="bilinear")
        return (time[:, :, :, None, None] + space[:, :, None]).flatten(2).squeeze(0).T

    def tokens(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, T H W, width): projected, with their positions."""
        _, _, t, h, w = feature_map.shape
        tokens = self.project(feature_map.flatten(2).transpose(1, 2))
        return tokens + self.positions(t, h, w).to(tokens.dtype)

    def forward(self, feature_map: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(self.dropout(self.pooler(self.tokens(feature_map), mask)))
