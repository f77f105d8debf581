"""The initialisation both encoders share, torchvision's VideoResNet's: He-normal convolutions, BN scale 1 and
shift 0, and optionally each residual block's last BN scale 0 (the block starts as the identity)."""

from __future__ import annotations

from torch import nn


def init_resnet(model: nn.Module, zero_init_residual: bool) -> None:
    """Initialise every Conv3d (kaiming normal, fan_out, relu) and BatchNorm3d of ``model``; with
    ``zero_init_residual``, zero the scale of each block's ``last_bn``."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if hasattr(m, "last_bn"):
                nn.init.zeros_(m.last_bn.weight)
