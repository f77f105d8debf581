"""Multi-label recognition (Charades): the mean average precision that scores it (the targets are drawn with the
clips: dali_pipelines/targets.py)."""

from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Average of the precision at each positive when the videos are ranked by score (ties in index order)."""
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = np.asarray(positives, bool)[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP in percent over (videos, classes) scores and multi-hot targets: each class's average precision, classes
    with no positive video dropped, then the mean."""
    scores, targets = np.asarray(scores), np.asarray(targets) > 0
    kept = [c for c in range(targets.shape[1]) if targets[:, c].any()]
    if not kept:
        raise ValueError("no class has a positive video: the mAP is undefined")
    return 100.0 * float(np.mean([average_precision(scores[:, c], targets[:, c]) for c in kept]))
