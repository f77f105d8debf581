"""R3D encoders: 3D ResNets as CVRL builds them (close to the SlowFast "Slow" pathway).

Stem 5x7x7 stride 2x2x2 and a 1x3x3 max-pool; four stages; temporal kernels (k_t = 3) only in res4 and res5;
no temporal stride after the stem; global average pooling to a vector (2048-d for R3D-50 at width 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cvrl_pl.models.input_norm import InputNorm
from cvrl_pl.models.padding import PADDINGS, SameConv3d, SameMaxPool3d
from cvrl_pl.models.resnet_init import init_resnet

# The paper's R3D puts temporal kernels only in the last two stages (docs/recipe.md, "Encoder").
TEMPORAL_KERNELS = (1, 1, 3, 3)


@dataclass(frozen=True)
class R3DSpec:
    """Depth and block type of one R3D variant."""

    blocks: tuple[int, int, int, int]
    bottleneck: bool


SPECS: dict[str, R3DSpec] = {
    "r3d18": R3DSpec((2, 2, 2, 2), bottleneck=False),
    "r3d50": R3DSpec((3, 4, 6, 3), bottleneck=True),
    "r3d101": R3DSpec((3, 4, 23, 3), bottleneck=True),
    "r3d152": R3DSpec((3, 8, 36, 3), bottleneck=True),
}


def _conv_bn(
    c_in: int, c_out: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1), *, padding: str
) -> nn.Sequential:
    if padding == "tf_same":
        conv = SameConv3d(c_in, c_out, kernel, stride)
    else:
        conv = nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=tuple(k // 2 for k in kernel), bias=False)
    return nn.Sequential(conv, nn.BatchNorm3d(c_out))


class ResBlock(nn.Module):
    """A residual block: bottleneck [k_t x1x1] -> [1x3x3] -> [1x1x1], or basic [k_t x3x3] -> [1x3x3]."""

    def __init__(
        self, c_in: int, inner: int, c_out: int, *, k_t: int, spatial_stride: int, bottleneck: bool, padding: str
    ):
        super().__init__()
        stride = (1, spatial_stride, spatial_stride)
        if bottleneck:
            convs = [
                _conv_bn(c_in, inner, (k_t, 1, 1), padding=padding),
                _conv_bn(inner, inner, (1, 3, 3), stride, padding=padding),
                _conv_bn(inner, c_out, (1, 1, 1), padding=padding),
            ]
        else:
            convs = [
                _conv_bn(c_in, inner, (k_t, 3, 3), stride, padding=padding),
                _conv_bn(inner, c_out, (1, 3, 3), padding=padding),
            ]
        layers: list[nn.Module] = []
        for conv in convs[:-1]:
            layers += [conv, nn.ReLU(inplace=True)]
        self.branch = nn.Sequential(*layers, convs[-1])
        self.shortcut = (
            _conv_bn(c_in, c_out, (1, 1, 1), stride, padding=padding)
            if (c_in != c_out or spatial_stride != 1)
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    @property
    def last_bn(self) -> nn.BatchNorm3d:
        return self.branch[-1][1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class R3D(nn.Module):
    """A 3D ResNet mapping clips (B, 3, T, H, W) to features (B, feature_dim)."""

    def __init__(
        self,
        spec: R3DSpec,
        width: int = 1,
        zero_init_residual: bool = False,
        base_channels: int = 64,
        *,
        padding: str = "symmetric",
    ):
        super().__init__()
        if width < 1 or base_channels < 1:
            raise ValueError(f"width and base_channels must be positive integers, got {width} and {base_channels}")
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding '{padding}'; choose one of {', '.join(PADDINGS)}")
        self.padding = padding
        self.input_norm = InputNorm()  # the identity, CVRL's; build_encoder sets another
        stem = base_channels * width
        pool = (
            SameMaxPool3d((1, 3, 3), (1, 2, 2))
            if padding == "tf_same"
            else nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        )
        self.stem = nn.Sequential(_conv_bn(3, stem, (5, 7, 7), (2, 2, 2), padding=padding), nn.ReLU(inplace=True), pool)
        expansion = 4 if spec.bottleneck else 1
        stages = []
        c_in = stem
        for i, (n_blocks, k_t) in enumerate(zip(spec.blocks, TEMPORAL_KERNELS, strict=True)):
            inner = base_channels * width * 2**i
            c_out = inner * expansion
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (j == 0 and i > 0) else 1
                block = ResBlock(
                    c_in, inner, c_out, k_t=k_t, spatial_stride=stride, bottleneck=spec.bottleneck, padding=padding
                )
                blocks.append(block)
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = c_in
        init_resnet(self, zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling, (B, feature_dim, T', H', W'): what a head that weighs time and space
        (models.heads) sees."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"R3D expects clips of shape (B, 3, T, H, W), got {tuple(x.shape)}")
        return self.stages(self.stem(self.input_norm(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature (B, feature_dim)."""
        return self.pool(self.forward_features(x)).flatten(1)
