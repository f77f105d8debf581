"""The encoder registry: every ``model.encoder`` name and the class that builds it (the config's choices come
from here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from cvrl_pl.models.input_norm import IDENTITY, InputNorm
from cvrl_pl.models.r2plus1d import R2Plus1D
from cvrl_pl.models.r3d import R3D, SPECS

Encoder = R3D | R2Plus1D  # what build_encoder returns: clips (B, 3, T, H, W) -> (B, feature_dim), forward_features

# Each takes (width, zero_init_residual, base_channels, *, padding).
ENCODERS: dict[str, Callable[..., Encoder]] = {
    **{name: partial(R3D, spec) for name, spec in SPECS.items()},
    "r2plus1d18": R2Plus1D,
}


def build_encoder(
    name: str,
    width: int = 1,
    zero_init_residual: bool = False,
    base_channels: int = 64,
    *,
    padding: str = "symmetric",
    input_mean: Sequence[float] = IDENTITY[0],
    input_std: Sequence[float] = IDENTITY[1],
) -> Encoder:
    """Build an encoder by name (r3d18, r3d50, r3d101, r3d152, r2plus1d18) with a width multiplier.

    ``base_channels`` (64 in the paper and in torchvision) sets the stem and first stage; small values make
    CPU-sized models. ``padding="tf_same"`` pads as the official TensorFlow code does (models/padding.py), for
    its R3D weights. ``input_mean`` and ``input_std`` normalise its [0, 1] input (models/input_norm.py).
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder '{name}'; choose one of {', '.join(ENCODERS)}")
    encoder = ENCODERS[name](width, zero_init_residual, base_channels, padding=padding)
    encoder.input_norm = InputNorm(input_mean, input_std)
    return encoder
