"""TensorFlow's ``SAME`` padding for 3D convolutions and pools, so that official TF weights compute exactly what
they computed there.

For stride s and kernel k, ``SAME`` gives ceil(n / s) outputs and pads max((ceil(n / s) - 1) * s + k - n, 0) in
all, the odd one on the far side. PyTorch's symmetric ``padding=k // 2`` gives the same output size but, for a
stride-2 layer on an even size, centres the kernel one pixel earlier: the same weights then see shifted inputs
(6% relative difference in R3D-50's pooled features). Where the ``SAME`` padding happens to be symmetric (stride
1, or an odd size), the layers here pass it to PyTorch's kernel and copy nothing; only an asymmetric remainder is
added with ``F.pad``, one copy of that layer's input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PADDINGS = ("symmetric", "tf_same")  # symmetric: PyTorch's k // 2 on both sides; tf_same: TensorFlow's SAME


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) of TensorFlow's ``SAME`` padding along one axis of ``size`` elements."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _split(x: torch.Tensor, kernel, stride) -> tuple[tuple[int, ...], list[int]]:
    """The symmetric part of the ``SAME`` padding of each of (T, H, W), and the F.pad list of what remains after."""
    pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[-3:], kernel, stride, strict=True)]
    extra = []
    for before, after in reversed(pads):  # F.pad lists the last axis first
        extra += [0, after - before]
    return tuple(before for before, _ in pads), extra


class SameConv3d(nn.Conv3d):
    """A Conv3d with TensorFlow's ``SAME`` padding (its weights and state dict are a plain Conv3d's)."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        symmetric, extra = _split(x, self.kernel_size, self.stride)
        if any(extra):
            x = F.pad(x, extra)
        return F.conv3d(x, self.weight, None, self.stride, symmetric)


class SameMaxPool3d(nn.Module):
    """A MaxPool3d with TensorFlow's ``SAME`` padding (padded positions never win)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        symmetric, extra = _split(x, self.kernel, self.stride)
        if any(extra):
            x = F.pad(x, extra, value=float("-inf"))
        return F.max_pool3d(x, self.kernel, self.stride, symmetric)
