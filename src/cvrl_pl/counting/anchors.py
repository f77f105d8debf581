"""The counting head's targets (SEVERE's ``train_2stream.py``, ``update_labels``): at a position, the true length
of the cycle after (or before) it against each of the 7 scale anchors times the current estimate of that length. An
anchor whose IoU with the truth (the shorter over the longer) reaches ``upper`` is a positive, with the regression
target log(truth / anchor); one at or under ``lower`` a negative; between them, or where the truth is unknown, it is
ignored."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cvrl_pl.losses.counting import IGNORE

ANCHORS = (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0)  # SEVERE's opts.py: the scales of the current estimate


def anchor_targets(
    offset: int, estimate: float, *, anchors: Sequence[float] = ANCHORS, lower: float = 0.5, upper: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(Class targets (A,) of 1, 0 or IGNORE; box targets (A,), NaN where none) of a position whose true cycle
    length is ``offset`` + 1 frames (``offset`` -1: unknown, everything ignored), given the current ``estimate``."""
    cls = np.full(len(anchors), IGNORE, np.int64)
    box = np.full(len(anchors), np.nan)
    if offset == -1:
        return cls, box
    truth = offset + 1
    for i, scale in enumerate(anchors):
        anchor = scale * estimate
        iou = min(truth, anchor) / max(truth, anchor)
        if iou >= upper:
            cls[i], box[i] = 1, math.log(truth / anchor)
        elif iou <= lower:
            cls[i] = 0
    return cls, box
