"""Combining multi-view predictions: one row per (video, clip) sample, padded duplicates removed, per-video means
(or maxima: the usual convention for multi-label scores)."""

from __future__ import annotations

import torch

from cvrl_pl.runtime.distributed import unique_samples

COMBINE = ("mean", "max")


def combine_by_video(
    values: torch.Tensor, video_ids: torch.Tensor, clip_ids: torch.Tensor | None = None, *, combine: str = "mean"
):
    """The ``combine`` (mean or max) of ``values`` (N, ...) over the rows of each video, counting each (video,
    clip) pair once.

    Padding repeats samples to fill the last batch (and DDP shards): a repeated (video, clip) pair would weigh
    twice in a mean, so duplicates are dropped first. Returns (unique video ids sorted, combined values, number of
    views combined).
    """
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {', '.join(COMBINE)}, got {combine!r}")
    clip_ids = torch.zeros_like(video_ids) if clip_ids is None else clip_ids
    first = unique_samples(video_ids, clip_ids)
    values, video_ids = values[first], video_ids[first]
    videos, inverse = torch.unique(video_ids, return_inverse=True)
    out = torch.zeros((len(videos), *values.shape[1:]), dtype=values.dtype, device=values.device)
    counts = torch.bincount(inverse, minlength=len(videos))
    per_row = (-1, *([1] * (values.dim() - 1)))
    if combine == "max":
        rows = inverse.view(per_row).expand_as(values)
        return videos, out.scatter_reduce_(0, rows, values, "amax", include_self=False), counts
    out.index_add_(0, inverse, values)
    return videos, out / counts.view(per_row).to(values.dtype), counts
