"""All views of a few training samples as one picture: what the augmentation preview tool writes and what the
W&B preview callback logs."""

from __future__ import annotations

import numpy as np
import torch

from cvrl_pl.data.batches import batch_views

GAP = 4  # pixels between two views in the grid


def stacked_views(batch: dict[str, torch.Tensor], num: int) -> np.ndarray:
    """The first ``num`` samples of a pretraining batch as float32 (N, rho, C, T, H, W)."""
    return torch.stack([v[:num].float().cpu() for v in batch_views(batch)], dim=1).numpy()


def grid(views: np.ndarray) -> np.ndarray:
    """(N, V, C, T, H, W) in [0, 1] -> one uint8 RGB image: a row per sample, the frames of its V views side by side."""
    n, num_views, _, t, h, w = views.shape
    image = np.ones((n * h, num_views * (t * w + GAP) - GAP, 3), np.float32)
    for i in range(n):
        for v in range(num_views):
            frames = views[i, v].transpose(1, 2, 3, 0)  # T, H, W, C
            x0 = v * (t * w + GAP)
            image[i * h : (i + 1) * h, x0 : x0 + t * w] = frames.transpose(1, 0, 2, 3).reshape(h, t * w, 3)
    return (image * 255).round().astype(np.uint8)
