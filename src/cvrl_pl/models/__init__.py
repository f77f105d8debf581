"""Encoders and heads."""

from cvrl_pl.models.encoders import ENCODERS, Encoder, build_encoder
from cvrl_pl.models.heads import ProjectionHead
from cvrl_pl.models.r2plus1d import R2Plus1D
from cvrl_pl.models.r3d import R3D

__all__ = ["ENCODERS", "Encoder", "R2Plus1D", "R3D", "ProjectionHead", "build_encoder"]
