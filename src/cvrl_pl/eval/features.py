"""Frozen-encoder features of a labelled split, one vector per video (the mean over its views), on every rank."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@torch.no_grad()
def extract_features(encoder: torch.nn.Module, batches: Iterable[dict], device: torch.device) -> Features:
    """Run ``encoder`` in eval mode over every batch of an evaluation loader; average the views of each video."""
    was_training = encoder.training
    encoder.eval()
    feats, labels, videos, clips = [], [], [], []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    for batch in batches:
        x, spatial = flatten_views(batch["views"].to(device, non_blocking=True))
        with autocast:
            f = encoder(x).float()
        feats.append(f.view(-1, spatial, f.shape[1]).mean(1))
        labels.append(batch["label"].view(-1).to(device))
        videos.append(batch["video_id"].view(-1).to(device))
        clips.append(batch["clip_idx"].view(-1).to(device))
    encoder.train(was_training)
    return video_features(*(torch.cat(t) for t in (feats, labels, videos, clips)))


def video_features(
    values: torch.Tensor, labels: torch.Tensor, video_ids: torch.Tensor, clip_ids: torch.Tensor
) -> Features:
    """This rank's rows of (video, clip) values -> every rank's videos, each with the mean of its views' values."""
    values, labels, video_ids, clip_ids = (gather(t) for t in (values, labels, video_ids, clip_ids))
    ids, mean, counts = average_by_video(values, video_ids, clip_ids)
    label_of = torch.zeros(int(video_ids.max()) + 1, dtype=labels.dtype, device=labels.device)
    label_of[video_ids] = labels
    return Features(mean, label_of[ids], ids, counts)
