"""Aggregating multi-view predictions: one row per (video, clip) sample, padded duplicates removed, per-video means."""

from __future__ import annotations

import torch

from cvrl_pl.runtime.distributed import unique_samples


def average_by_video(values: torch.Tensor, video_ids: torch.Tensor, clip_ids: torch.Tensor | None = None):
    """Mean of ``values`` (N, ...) over the rows of each video, counting each (video, clip) pair once.

    Padding repeats samples to fill the last batch (and DDP shards): a repeated (video, clip) pair would weigh
    twice, so duplicates are dropped first. Returns (unique video ids sorted, means, number of views averaged).
    """
    clip_ids = torch.zeros_like(video_ids) if clip_ids is None else clip_ids
    first = unique_samples(video_ids, clip_ids)
    values, video_ids = values[first], video_ids[first]
    videos, inverse = torch.unique(video_ids, return_inverse=True)
    sums = torch.zeros((len(videos), *values.shape[1:]), dtype=values.dtype, device=values.device)
    sums.index_add_(0, inverse, values)
    counts = torch.bincount(inverse, minlength=len(videos))
    return videos, sums / counts.view(-1, *([1] * (values.dim() - 1))).to(values.dtype), counts
