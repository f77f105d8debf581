"""Frozen-encoder features of a labelled split, one vector per video (the mean over its views), on every rank; and
the same combining for a classifier's scores (mean or max), written out as ``predictions.npz``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cvrl_pl.eval.views import combine_by_video
from cvrl_pl.runtime.distributed import gather


@dataclass
class Features:
    """One row per video: the values combined over its views (features: their mean), its label (a class index or
    a multi-hot row) and id."""

    features: torch.Tensor
    labels: torch.Tensor
    video_ids: torch.Tensor
    views: torch.Tensor  # how many views each video's values are combined over


def flatten_views(views: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B, S, C, T, H, W) test views or (B, C, T, H, W) clips -> a batch of clips and S (1 for plain clips)."""
    if views.dim() == 6:
        return views.flatten(0, 1), views.shape[1]
    return views, 1


def clip_rows(
    batch: dict, values_of: Callable[[torch.Tensor], torch.Tensor], *, combine: str = "mean"
) -> tuple[torch.Tensor, ...]:
    """One evaluation batch -> a row per (video, clip): ``values_of`` its clips, combined (mean or max) over each
    clip's spatial crops, then its labels, video ids and clip ids (on the values' device). ``video_features`` takes
    a list of them."""
    clips, spatial = flatten_views(batch["views"])
    values = values_of(clips)
    values = values.view(-1, spatial, values.shape[1])
    labels = batch["label"]  # class indices, or multi-hot float rows (B, classes)
    ids = (
        labels if labels.is_floating_point() else labels.view(-1),
        batch["video_id"].view(-1),
        batch["clip_idx"].view(-1),
    )
    combined = values.amax(1) if combine == "max" else values.mean(1)
    return (combined, *(t.to(values.device) for t in ids))


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


def video_features(rows: list[tuple[torch.Tensor, ...]], *, combine: str = "mean") -> Features:
    """This rank's ``clip_rows`` -> every rank's videos, each with the ``combine`` (mean or max) of its views'
    values."""
    values, labels, video_ids, clip_ids = (gather(torch.cat(t)) for t in zip(*rows, strict=True))
    ids, combined, counts = combine_by_video(values, video_ids, clip_ids, combine=combine)
    label_of = labels.new_zeros((int(video_ids.max()) + 1, *labels.shape[1:]))
    label_of[video_ids] = labels
    return Features(combined, label_of[ids], ids, counts)


def save_predictions(path: str | os.PathLike, videos: Features, paths: Sequence[str], classes: Sequence[str]) -> None:
    """``predictions.npz``: per video, ``ids`` (its path relative to the split's root, from ``paths`` by video id),
    ``scores`` (its view-combined scores, one row per video) and ``targets`` (its class index, or its multi-hot row
    as uint8), and the ``classes`` that name the score columns; for any outside tool to recompute or extend a
    metric. Plain arrays, loadable without pickle."""
    ids = videos.video_ids.cpu().numpy()
    np.savez(
        path,
        ids=np.array([paths[int(i)] for i in ids], dtype=str),
        scores=videos.features.float().cpu().numpy(),
        targets=label_array(videos.labels),
        classes=np.array(list(classes), dtype=str),
    )


def label_array(labels: torch.Tensor) -> np.ndarray:
    """Videos' labels as saved: class indices as they are, multi-hot float rows as uint8 0/1."""
    labels = labels.cpu()
    return (labels > 0).to(torch.uint8).numpy() if labels.is_floating_point() else labels.numpy()
