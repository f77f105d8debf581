"""Frozen-encoder features of a labelled split, one vector per video (the mean over its views), on every rank."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cvrl_pl.eval.views import average_by_video
from cvrl_pl.runtime.distributed import gather


@dataclass
class Features:
    """One row per video: the features averaged over its views, its label and id."""

    features: torch.Tensor
    labels: torch.Tensor
    video_ids: torch.Tensor
    views: torch.Tensor  # how many views each video's mean is over


def flatten_views(views: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B, S, C, T, H, W) test views or (B, C, T, H, W) clips -> a batch of clips and S (1 for plain clips)."""
    if views.dim() == 6:
        return views.flatten(0, 1), views.shape[1]
    return views, 1


def clip_rows(batch: dict, values_of: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """One evaluation batch -> a row per (video, clip): ``values_of`` its clips, averaged over each clip's spatial
    crops, then its labels, video ids and clip ids (on the values' device). ``video_features`` takes a list of them."""
    clips, spatial = flatten_views(batch["views"])
    values = values_of(clips)
    ids = (batch[k].view(-1).to(values.device) for k in ("label", "video_id", "clip_idx"))
    return (values.view(-1, spatial, values.shape[1]).mean(1), *ids)


def clip_features(encoder: torch.nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, ...]:
    """``clip_rows`` of ``encoder``'s pooled features for one evaluation batch: no gradients, bf16 autocast on a GPU;
    the encoder's train/eval mode is the caller's."""
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        return clip_rows(batch, lambda x: encoder(x.to(device, non_blocking=True)).float())


def extract_features(encoder: torch.nn.Module, batches: Iterable[dict], device: torch.device) -> Features:
    """Run ``encoder`` in eval mode over every batch of an evaluation loader; average the views of each video."""
    was_training = encoder.training
    encoder.eval()
    rows = [clip_features(encoder, batch, device) for batch in batches]
    encoder.train(was_training)
    return video_features(rows)


def video_features(rows: list[tuple[torch.Tensor, ...]]) -> Features:
    """This rank's ``clip_rows`` -> every rank's videos, each with the mean of its views' values."""
    values, labels, video_ids, clip_ids = (gather(torch.cat(t)) for t in zip(*rows, strict=True))
    ids, mean, counts = average_by_video(values, video_ids, clip_ids)
    label_of = torch.zeros(int(video_ids.max()) + 1, dtype=labels.dtype, device=labels.device)
    label_of[video_ids] = labels
    return Features(mean, label_of[ids], ids, counts)


def save_predictions(path: str | os.PathLike, videos: Features, paths: Sequence[str]) -> None:
    """``predictions.npz``: per video, ``ids`` (its path relative to the split's root, from ``paths`` by video id),
    ``scores`` (its view-combined scores, one row per video) and ``targets`` (its class index), for any outside tool
    to recompute or extend a metric; plain arrays, loadable without pickle."""
    ids = videos.video_ids.cpu().numpy()
    np.savez(
        path,
        ids=np.array([paths[int(i)] for i in ids], dtype=str),
        scores=videos.features.float().cpu().numpy(),
        targets=videos.labels.cpu().numpy(),
    )
