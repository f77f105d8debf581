"""Several clips per view (V-JEPA's segments, ``eval.segments``): a sample's frames hold one clip from each part of
the video, back to back; each clip is encoded alone and the feature maps are concatenated along time, so that a head
on the map (the attentive probe's query) sees the tokens of every clip of the view at once."""

from __future__ import annotations

from collections.abc import Callable

import torch


def encode_segments(encode: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, segments: int) -> torch.Tensor:
    """``encode``'s feature maps (B, C', segments T', H', W') of clips (B, C, segments T, H, W) holding ``segments``
    clips of T frames each: (B segments, C, T, H, W) through ``encode``, then each sample's maps joined in order."""
    if segments == 1:
        return encode(clips)
    b, c, t, h, w = clips.shape
    if t % segments:
        raise ValueError(f"a sample of {t} frames does not hold {segments} clips of equal length")
    apart = clips.unflatten(2, (segments, t // segments)).transpose(1, 2).flatten(0, 1)  # (B S, C, T, H, W)
    maps = encode(apart)
    return maps.unflatten(0, (b, segments)).transpose(1, 2).flatten(2, 3)  # (B, C', S, T', H', W') -> time joined
