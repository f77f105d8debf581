"""The encoders' input: clips whose pixels are in [0, 1], normalised per colour channel as the encoder was trained.

CVRL's encoders take the pixels as they are (mean 0, std 1: the identity). SEVERE's R(2+1)D-18 checkpoints were
fine-tuned on (x - ImageNet mean) / ImageNet std, and a model fed another input than its own degrades without an
error, so the values are part of an encoder's architecture (encoder_file.ARCH_KEYS), not of its state dict.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

IDENTITY = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # (mean, std): CVRL's input, the pixels as they are
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # torchvision's video models and SEVERE's fine-tuning


class InputNorm(nn.Module):
    """(x - mean) / std per channel of clips (B, 3, T, H, W); the values live in non-persistent buffers, so a state
    dict is the same whatever they are."""

    def __init__(self, mean: Sequence[float] = IDENTITY[0], std: Sequence[float] = IDENTITY[1]):
        super().__init__()
        mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"input normalisation needs 3 means and 3 positive stds, got {mean} and {std}")
        self.identity = (mean, std) == IDENTITY
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return x
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
