"""The training videos held out to choose among several heads (``eval.heads``): a seeded, per-class fraction of a
labelled split that no head trains on, listed in the run folder as ``holdout.txt`` (one path per line, relative to
the split's root), so that the hyper-parameters behind a reported test score were chosen without the test split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.label_subset import draw_per_class, rounded_share, write_label_subset
from cvrl_pl.data.multilabel import is_multilabel

HOLDOUT_FILE = "holdout.txt"


def draw_holdout(labels: np.ndarray | None, count: int, fraction: float, seed: int) -> np.ndarray:
    """Ascending rows of ``count`` videos to hold out: in each class of ``labels``, ``fraction`` of its videos rounded
    half up, at least one and at most all but one (every class keeps a training video; a class of one keeps it),
    drawn by ``seed`` from the class's own stream. ``labels`` None (multi-hot targets): ``fraction`` of all videos."""
    if labels is None:
        k = rounded_share(fraction, count)
        return np.sort(np.random.default_rng([seed, count]).choice(count, size=k, replace=False))
    return draw_per_class(labels, seed, lambda n: min(max(1, rounded_share(fraction, n)), n - 1))


def hold_out(
    index: VideoIndex, fraction: float, seed: int, run_dir: Path, *, write: bool
) -> tuple[VideoIndex, VideoIndex]:
    """(The videos the heads train on, the held-out videos) of ``index``; ``write`` (rank 0) lists the held-out
    ones in ``run_dir/holdout.txt``. The draw depends on the index and the seed alone: every rank, world size and
    resume draws the same videos."""
    n = len(index.videos)
    labels = None if is_multilabel(index) else index.videos.column("label")
    held = draw_holdout(labels, n, fraction, seed)
    if len(held) == 0:
        raise ValueError(f"eval.heads.holdout={fraction} holds out none of {n} training videos of {index.root}")
    kept = np.setdiff1d(np.arange(n), held)
    if write:
        write_label_subset(run_dir / HOLDOUT_FILE, index, held)
    rank_zero_info(
        f"held out {len(held)} of {n} training videos to choose the head (eval.heads.holdout={fraction}, "
        f"seed {seed}); listed in {run_dir / HOLDOUT_FILE}"
    )
    return replace(index, videos=index.videos.take(kept)), replace(index, videos=index.videos.take(held))
