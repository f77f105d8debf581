"""Where every clip starts: CVRL's pair of pretraining clips (Qian et al. 2021, Sec. 3.2), the random clip of a
linear-evaluation training sample, and the evenly spaced clips of the test views.

With L stored frames, clips of T frames every ``stride`` frames may start anywhere in [0, M) where
M = L - (T - 1) * stride. For pretraining, the gap t between the two starts follows a law that favours short gaps;
the first start is uniform over the positions that leave room for the gap, and the two clips swap with
probability 1/2. A video shorter than one clip (M < 1) is looped (``clip_frame_indices``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _decreasing(u: float, m: int, power: float, gap: int) -> float:
    # Density proportional to (1 - t/m)^power on [0, m]: CDF 1 - (1 - t/m)^(power + 1), inverted.
    return m * (1.0 - (1.0 - u) ** (1.0 / (power + 1.0)))


# The laws of the gap between the two pretraining clips: name -> (u ~ U[0, 1), M, power, gap) -> t before flooring.
# Adding a law here is all it takes: the config's choices (aug.temporal.distribution) are these names.
DISTRIBUTIONS: dict[str, Callable[[float, int, float, int], float]] = {
    "decreasing": _decreasing,
    "uniform": lambda u, m, power, gap: u * m,
    "fixed": lambda u, m, power, gap: gap,
    "same": lambda u, m, power, gap: 0,
}


def start_range(num_video_frames: int, num_frames: int, stride: int) -> int:
    """M: the number of start positions that keep a whole clip inside the video (< 1: the video is too short)."""
    return num_video_frames - (num_frames - 1) * stride


def gap_from_uniform(u: float, m: int, distribution: str, *, power: float = 1.0, gap: int = 0) -> int:
    """Map u ~ U[0, 1) to a gap t in [0, m - 1] by inverting the law's CDF, floored (the official code's p = 1).

    ``decreasing`` has density proportional to (1 - t/m)^power on [0, m], so t = m * (1 - (1 - u)^(1 / (power + 1))).
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown temporal distribution '{distribution}'; choose one of {tuple(DISTRIBUTIONS)}")
    t = DISTRIBUTIONS[distribution](u, m, power, gap)
    return int(min(max(int(t), 0), m - 1))


def sample_clip_starts(
    num_video_frames: int,
    num_frames: int,
    stride: int,
    rng: np.random.Generator,
    *,
    distribution: str = "decreasing",
    power: float = 1.0,
    gap: int = 0,
) -> tuple[int, int]:
    """Start frames (s1, s2) of the two pretraining clips of one video.

    A video shorter than one clip (M < 1) is looped (see ``clip_frame_indices``) and both starts are drawn
    independently over all its frames, as the official implementation does.
    """
    if num_video_frames < 1:
        raise ValueError("a video needs at least one frame")
    m = start_range(num_video_frames, num_frames, stride)
    if m < 1:
        s1, s2 = rng.integers(0, num_video_frames, size=2)
        return int(s1), int(s2)
    t = gap_from_uniform(float(rng.random()), m, distribution, power=power, gap=gap)
    s1 = int(rng.integers(0, m - t))
    s2 = s1 + t
    return (s2, s1) if rng.random() < 0.5 else (s1, s2)


def train_clip_start(num_video_frames: int, num_frames: int, stride: int, rng: np.random.Generator) -> int:
    """Start of the one clip of a linear-evaluation / fine-tuning training sample: uniform over the starts that
    keep the clip inside the video, or over all frames of a video shorter than one clip (looped)."""
    m = start_range(num_video_frames, num_frames, stride)
    return int(rng.integers(0, m)) if m >= 1 else int(rng.integers(0, num_video_frames))


def eval_clip_start(k: int, num_clips: int, last_start: int) -> int:
    """Start of test clip k of ``num_clips`` evenly spaced over [0, last_start] (0 for a video too short)."""
    if last_start <= 0:
        return 0
    if num_clips == 1:
        return last_start // 2
    return int(round(k * last_start / (num_clips - 1)))


def clip_frame_indices(start: int, num_frames: int, stride: int, num_video_frames: int) -> np.ndarray:
    """Stored-frame indices of a clip; indices past the end wrap around (looping a short video)."""
    return (start + stride * np.arange(num_frames)) % num_video_frames
