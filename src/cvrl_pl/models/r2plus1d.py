"""R(2+1)D-18: the 3D ResNet-18 whose 3x3x3 convolutions are each split into a 1x3x3 spatial and a 3x1x1 temporal
convolution (Tran et al. 2018), as torchvision's ``r2plus1d_18`` builds it; every row of the SEVERE benchmark uses it.

Submodule names follow torchvision's (``stem.*``, ``layer1`` .. ``layer4``, each block's ``conv1``, ``conv2`` and
``downsample``), so a torchvision-layout state dict less its ``fc.*`` loads as it is. Unlike R3D, every stage after
the first strides by 2 in time as well as in space.
"""

from __future__ import annotations

import torch
from torch import nn

from cvrl_pl.models.input_norm import InputNorm
from cvrl_pl.models.padding import PADDINGS
from cvrl_pl.models.resnet_init import init_resnet

STEM_MID = 45  # the stem's spatial-conv channels at 64 base channels (torchvision's R2Plus1dStem)
BLOCKS = (2, 2, 2, 2)


def midplanes(c_in: int, c_out: int) -> int:
    """Channels between a block's spatial and temporal convolutions: as many parameters as a 3x3x3 conv c_in -> c_out.

    torchvision computes it once per block, from the block's input and output channels, and both convs use it.
    """
    return (c_in * c_out * 27) // (c_in * 9 + 3 * c_out)


def stem_mid(channels: int) -> int:
    """The stem's 45 scaled with its output channels (base_channels x width; 45 at 64): 45 x channels // 64."""
    return max(1, STEM_MID * channels // 64)


class SplitConv(nn.Sequential):
    """A (2+1)D convolution: [1 x 3 x 3, stride 1 x s x s] -> BN -> ReLU -> [3 x 1 x 1, stride s x 1 x 1]."""

    def __init__(self, c_in: int, c_out: int, mid: int, stride: int = 1):
        super().__init__(
            nn.Conv3d(c_in, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, c_out, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
        )


class Block(nn.Module):
    """A basic residual block of two (2+1)D convolutions; a strided or widening one has a 1x1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        mid = midplanes(c_in, c_out)
        self.mid = mid
        self.conv1 = nn.Sequential(SplitConv(c_in, c_out, mid, stride), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(SplitConv(c_out, c_out, mid), nn.BatchNorm3d(c_out))
        self.downsample = (
            nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out))
            if (stride != 1 or c_in != c_out)
            else None
        )
        self.relu = nn.ReLU(inplace=True)

    @property
    def last_bn(self) -> nn.BatchNorm3d:
        return self.conv2[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class R2Plus1D(nn.Module):
    """R(2+1)D-18 mapping clips (B, 3, T, H, W) to features (B, feature_dim): 512-d at torchvision's size.

    Stage ``i`` (0..3) has ``base_channels * width * 2**i`` channels (64/128/256/512 at 64 and 1, torchvision's),
    the stem's spatial conv ``stem_mid(base_channels * width)`` (45 there); smaller values make CPU-sized models.
    """

    def __init__(
        self, width: int = 1, zero_init_residual: bool = False, base_channels: int = 64, *, padding: str = "symmetric"
    ):
        super().__init__()
        if width < 1 or base_channels < 1:
            raise ValueError(f"width and base_channels must be positive integers, got {width} and {base_channels}")
        if padding != "symmetric":
            why = "it exists for the official R3D TensorFlow weights" if padding in PADDINGS else "unknown padding"
            raise ValueError(f"R(2+1)D supports model.padding=symmetric only, not '{padding}' ({why})")
        self.padding = padding
        self.input_norm = InputNorm()  # the identity, CVRL's; build_encoder sets another
        c = base_channels * width
        mid = stem_mid(c)
        self.stem = nn.Sequential(
            nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, c, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(c),
            nn.ReLU(inplace=True),
        )
        c_in = c
        for i, n_blocks in enumerate(BLOCKS):
            c_out = c * 2**i
            blocks = [Block(c_in if j == 0 else c_out, c_out, 2 if (i > 0 and j == 0) else 1) for j in range(n_blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            c_in = c_out
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = c_in
        init_resnet(self, zero_init_residual)  # torchvision's flag zeroes nothing in its r2plus1d_18 (Bottleneck only)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling, (B, feature_dim, T', H', W'), T' = T / 8 and H', W' = H / 16, W / 16
        (rounded up): what a head that weighs time and space (models.heads) sees."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"R(2+1)D expects clips of shape (B, 3, T, H, W), got {tuple(x.shape)}")
        x = self.stem(self.input_norm(x))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature (B, feature_dim)."""
        return self.avgpool(self.forward_features(x)).flatten(1)
