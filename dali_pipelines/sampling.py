"""CVRL temporal interval sampling: where the two clips of one video start (Qian et al. 2021, Sec. 3.2).

With L stored frames, clips of T frames every ``stride`` frames may start anywhere in [0, M) where
M = L - (T - 1) * stride. The gap t between the starts follows a law that favours short gaps; the first start
is uniform over the positions that leave room for the gap, and the two clips swap with probability 1/2.
"""

from __future__ import annotations

import numpy as np

DISTRIBUTIONS = ("decreasing", "uniform", "fixed", "same")


def start_range(num_video_frames: int, num_frames: int, stride: int) -> int:
    """M: the number of start positions that keep a whole clip inside the video (< 1: the video is too short)."""
    return num_video_frames - (num_frames - 1) * stride


def gap_from_uniform(u: float, m: int, distribution: str, power: float = 1.0, gap: int = 0) -> int:
    """Map u ~ U[0, 1) to a gap t in [0, m - 1] by inverting the law's CDF.

    ``decreasing`` has density proportional to (1 - t/m)^power on [0, m], so its CDF is
    1 - (1 - t/m)^(power + 1) and t = m * (1 - (1 - u)^(1 / (power + 1))), floored (the official code's p = 1).
    """
    if distribution == "decreasing":
        t = m * (1.0 - (1.0 - u) ** (1.0 / (power + 1.0)))
    elif distribution == "uniform":
        t = u * m
    elif distribution == "fixed":
        t = gap
    elif distribution == "same":
        t = 0
    else:
        raise ValueError(f"unknown temporal distribution '{distribution}'; choose one of {DISTRIBUTIONS}")
    return int(min(max(int(t), 0), m - 1))


def sample_clip_starts(
    num_video_frames: int,
    num_frames: int,
    stride: int,
    rng: np.random.Generator,
    distribution: str = "decreasing",
    power: float = 1.0,
    gap: int = 0,
) -> tuple[int, int]:
    """Start frames (s1, s2) of the two clips of one video.

    A video shorter than one clip (M < 1) is looped (see ``clip_frame_indices``) and both starts are drawn
    independently over all its frames, as the official implementation does.
    """
    if num_video_frames < 1:
        raise ValueError("a video needs at least one frame")
    m = start_range(num_video_frames, num_frames, stride)
    if m < 1:
        s1, s2 = rng.integers(0, num_video_frames, size=2)
        return int(s1), int(s2)
    t = gap_from_uniform(float(rng.random()), m, distribution, power, gap)
    s1 = int(rng.integers(0, m - t))
    s2 = s1 + t
    return (s2, s1) if rng.random() < 0.5 else (s1, s2)


def clip_frame_indices(start: int, num_frames: int, stride: int, num_video_frames: int) -> np.ndarray:
    """Stored-frame indices of a clip; indices past the end wrap around (looping a short video)."""
    return (start + stride * np.arange(num_frames)) % num_video_frames
