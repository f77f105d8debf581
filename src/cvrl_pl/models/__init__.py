"""Encoders and heads."""

from cvrl_pl.models.heads import ProjectionHead
from cvrl_pl.models.r3d import R3D, build_encoder

__all__ = ["R3D", "ProjectionHead", "build_encoder"]
