"""Which Conv3d layers of an encoder get fewer frames than their temporal kernel spans, for a given clip.

Such a layer is legal (its padding supplies the missing frames), but torch's CPU (oneDNN) bf16 Conv3d returns
wrong weight gradients for exactly those layers, so bf16 training on a CPU checks the clip first
(docs/benchmarks.md, "bf16 on a CPU").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Overhang:
    """A Conv3d whose temporal kernel is longer than the 2 or more frames it receives."""

    layer: str
    kernel: int
    frames: int


def temporal_overhangs(encoder: nn.Module, num_frames: int, crop_size: int) -> list[Overhang]:
    """The Conv3d layers of ``encoder`` that a (3, num_frames, crop, crop) clip overhangs, in forward order.

    Build ``encoder`` on the meta device (``with torch.device("meta")``) to check shapes with no memory or compute.
    One input frame is not an overhang: the fault needs at least two (measured, docs/benchmarks.md).
    """
    found: list[Overhang] = []

    def record(name: str):
        def hook(conv: nn.Conv3d, inputs: tuple[torch.Tensor, ...]) -> None:
            frames, kernel = inputs[0].shape[2], conv.kernel_size[0]
            if 1 < frames < kernel:
                found.append(Overhang(name, kernel, frames))

        return hook

    convs = [(name, m) for name, m in encoder.named_modules() if isinstance(m, nn.Conv3d)]
    handles = [conv.register_forward_pre_hook(record(name)) for name, conv in convs]
    device = next(encoder.parameters()).device
    try:
        with torch.no_grad():
            encoder(torch.empty(1, 3, num_frames, crop_size, crop_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return found


def fitting_frames(encoder: nn.Module, num_frames: int, crop_size: int) -> int:
    """The smallest clip length of at least ``num_frames`` that no Conv3d of ``encoder`` overhangs."""
    frames = num_frames
    while temporal_overhangs(encoder, frames, crop_size):
        frames += 1
    return frames
