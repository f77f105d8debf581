"""Single-label accuracies beside top-k over videos: the mean over classes of each class's top-1 (a frequent class
weighs no more than a rare one), and top-1 over distinct clips (SEVERE's per-epoch test score)."""

from __future__ import annotations

import torch

from cvrl_pl.runtime.distributed import gather, unique_samples


def mean_class_top1(scores: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """(The mean over the classes that have rows of the percentage of their rows whose top score is the label, the
    number of those classes); classes without a test row do not count."""
    hits = (scores.argmax(dim=1) == labels).float()
    classes, inverse = torch.unique(labels, return_inverse=True)
    per_class = torch.zeros(len(classes), device=scores.device).index_add_(0, inverse, hits)
    per_class /= torch.bincount(inverse, minlength=len(classes)).float()
    return 100.0 * per_class.mean().item(), len(classes)


def clip_top1(rows: list[tuple[torch.Tensor, ...]]) -> float:
    """Top-1 over every rank's distinct (video, clip) rows of ``clip_rows`` (padding repeats dropped), each clip
    scored alone."""
    values, labels, video_ids, clip_ids = (gather(torch.cat(t)) for t in zip(*rows, strict=True))
    first = unique_samples(video_ids, clip_ids)
    return 100.0 * (values[first].argmax(dim=1) == labels[first]).float().mean().item()
