"""Repetition counting's scores, as SEVERE's UCF-RC column and Zhang et al. (CVPR 2020) define them
(``val_2stream.py``): each predicted count is rounded to an integer first, then

- MAE: the mean over videos of |count - truth| / truth (a relative error; lower is better);
- OBOA (off-by-one accuracy): the share of videos whose count is within one of the truth;
- over- and under-count MAE: the mean relative error over the videos counted too many (too few) times only;
- MAE's std: the population standard deviation of the relative errors (SEVERE's ``AverageMeter.std``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rounded_counts(counts: Sequence[float]) -> np.ndarray:
    """Counts rounded as SEVERE's Python rounds them: to the nearest integer, a half to the even one."""
    return np.round(np.asarray(counts, np.float64))


def counting_scores(counts: Sequence[float], truth: Sequence[int]) -> dict[str, float]:
    """``mae``, ``oboa``, ``mae_over``, ``mae_under`` (NaN where no video is over- or under-counted), ``mae_std``
    and the number of ``videos``, of predicted ``counts`` (rounded here) against the true counts ``truth``."""
    predicted, true = rounded_counts(counts), np.asarray(truth, np.float64)
    if predicted.shape != true.shape or not len(true):
        raise ValueError(f"counting_scores: {predicted.shape} counts for {true.shape} true counts (at least one)")
    if (true <= 0).any():
        raise ValueError("a true count is at least 1: the relative error divides by it")
    errors = np.abs(predicted - true) / true
    over, under = predicted > true, predicted < true
    return {
        "mae": float(errors.mean()),
        "oboa": float((np.abs(predicted - true) <= 1).mean()),
        "mae_over": float(errors[over].mean()) if over.any() else float("nan"),
        "mae_under": float(errors[under].mean()) if under.any() else float("nan"),
        "mae_std": float(errors.std()),
        "videos": len(true),
    }
