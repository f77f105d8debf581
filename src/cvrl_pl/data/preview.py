"""Both views of a few training samples as one picture: what the augmentation preview tool writes and what the
W&B preview callback logs."""

from __future__ import annotations

import numpy as np

GAP = 4  # pixels between the two views in the grid


def grid(views: np.ndarray) -> np.ndarray:
    """(N, 2, C, T, H, W) in [0, 1] -> one uint8 RGB image: a row per sample, the frames of both views side by side."""
    n, _, _, t, h, w = views.shape
    image = np.ones((n * h, 2 * t * w + GAP, 3), np.float32)
    for i in range(n):
        for v in range(2):
            frames = views[i, v].transpose(1, 2, 3, 0)  # T, H, W, C
            x0 = v * (t * w + GAP)
            image[i * h : (i + 1) * h, x0 : x0 + t * w] = frames.transpose(1, 0, 2, 3).reshape(h, t * w, 3)
    return (image * 255).round().astype(np.uint8)
