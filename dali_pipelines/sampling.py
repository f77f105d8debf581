"""Where every clip starts: CVRL's pretraining clips (Qian et al. 2021, Sec. 3.2; rho >= 2 of them), the random
clip of a linear-evaluation training sample, and the evenly spaced clips of the test views.

With L stored frames, clips of T frames every ``stride`` frames may start anywhere in [0, M) where
M = L - (T - 1) * stride. For pretraining, the gap t between the two starts follows a law that favours short gaps;
the first start is uniform over the positions that leave room for the gap, and the two clips swap with
probability 1/2. Each further clip (rho > 2) is drawn from that pair law given the first clip's start, so every
pair (clip 1, clip k) has exactly the two-clip law. A video shorter than one clip (M < 1) is looped
(``clip_frame_indices``).

Clips may also be sampled by time (the evaluation's ``eval.fps``, as SEVERE samples them): a video of L frames at
rate F holds ``resampled_length`` frames 1/fps seconds apart, and every start above then counts those, with a stride
of 1 (``time_frame_indices`` maps them back to stored frames).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

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


def _law(distribution: str) -> Callable[[float, int, float, int], float]:
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown temporal distribution '{distribution}'; choose one of {tuple(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[distribution]


def gap_from_uniform(u: float, m: int, distribution: str, *, power: float = 1.0, gap: int = 0) -> int:
    """Map u ~ U[0, 1) to a gap t in [0, m - 1] by inverting the law's CDF, floored (the official code's p = 1).

    ``decreasing`` has density proportional to (1 - t/m)^power on [0, m], so t = m * (1 - (1 - u)^(1 / (power + 1))).
    """
    t = _law(distribution)(u, m, power, gap)
    return int(min(max(int(t), 0), m - 1))


@lru_cache(maxsize=4096)
def gap_probabilities(m: int, distribution: str, *, power: float = 1.0, gap: int = 0) -> np.ndarray:
    """P(t) for t = 0..m-1: the exact law of ``gap_from_uniform`` under u ~ U[0, 1), read-only.

    The map u -> t is non-decreasing, so P(t) is the length of the u-interval mapped to t; its ends are found by
    bisection, which holds for every law of DISTRIBUTIONS without knowing its CDF.
    """
    law = _law(distribution)
    k = np.arange(1, m)
    lo, hi = np.zeros(m - 1), np.ones(m - 1)
    for _ in range(64):  # to float64 precision
        mid = (lo + hi) / 2
        t = np.clip(np.floor(np.broadcast_to(law(mid, m, power, gap), mid.shape)), 0, m - 1)
        lo, hi = np.where(t >= k, lo, mid), np.where(t >= k, mid, hi)
    hi[np.floor(law(0.0, m, power, gap)) >= k] = 0.0  # a constant law reaches t at u = 0 already
    p = np.diff(np.concatenate([[0.0], hi, [1.0]]))
    p.flags.writeable = False
    return p


def pair_partner_law(first: int, gaps: np.ndarray) -> np.ndarray:
    """P(s2 = y | s1 = first), y = 0..m-1, of the two-clip sampler whose gap law is ``gaps`` (gap_probabilities).

    The pair (s1, s2) has P = P(t) / (m - t) with t = |s1 - s2| (the lower start is uniform over m - t positions),
    halved for t > 0 (the swap decides which of the two orders it is).
    """
    m = len(gaps)
    t = np.abs(np.arange(m) - first)
    weights = gaps[t] / (m - t) * np.where(t > 0, 0.5, 1.0)
    return weights / weights.sum()


def sample_clip_starts(
    num_video_frames: int,
    num_frames: int,
    stride: int,
    rng: np.random.Generator,
    *,
    distribution: str = "decreasing",
    power: float = 1.0,
    gap: int = 0,
    num_clips: int = 2,
) -> tuple[int, ...]:
    """Start frames (s1, ..., s_rho) of the ``num_clips`` pretraining clips of one video.

    s1 and s2 are the paper's pair. Each further clip is an independent draw of the pair's second start given s1
    (``pair_partner_law``), so every pair (s1, sk) follows the two-clip law exactly; two later clips are
    independent given s1 (with the default linear law, whose pair is close to two uniform starts, their gap nearly
    follows the law too). A video shorter than one clip (M < 1) is looped (see ``clip_frame_indices``) and every
    start is drawn independently over all its frames, as the official implementation does for two.
    """
    if num_video_frames < 1:
        raise ValueError("a video needs at least one frame")
    if num_clips < 2:
        raise ValueError(f"CVRL needs at least two clips per video, got {num_clips}")
    m = start_range(num_video_frames, num_frames, stride)
    if m < 1:
        return tuple(int(s) for s in rng.integers(0, num_video_frames, size=num_clips))
    t = gap_from_uniform(float(rng.random()), m, distribution, power=power, gap=gap)
    s1 = int(rng.integers(0, m - t))
    s2 = s1 + t
    pair = (s2, s1) if rng.random() < 0.5 else (s1, s2)
    if num_clips == 2:
        return pair
    partner = pair_partner_law(pair[0], gap_probabilities(m, distribution, power=power, gap=gap))
    return pair + tuple(int(s) for s in rng.choice(m, size=num_clips - 2, p=partner))


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


def video_part(j: int, parts: int, length: int) -> tuple[int, int]:
    """(First frame, frames) of part ``j`` of a video of ``length`` frames cut into ``parts`` equal parts, the way
    V-JEPA's multi-clip reader partitions a video (at least one frame a part: a clip drawn in a part too short for
    it runs on into the next part, or loops)."""
    lo, hi = j * length // parts, (j + 1) * length // parts
    return lo, max(1, hi - lo)


def clip_frame_indices(start: int, num_frames: int, stride: int, num_video_frames: int) -> np.ndarray:
    """Stored-frame indices of a clip; indices past the end wrap around (looping a short video)."""
    return (start + stride * np.arange(num_frames)) % num_video_frames


def linspace_clip_start(k: int, num_clips: int, length: int, num_frames: int) -> int:
    """Start of test clip k of ``num_clips`` as SEVERE's dense test places them: the integer part of
    linspace(0, max(length - num_frames, 1), num_clips)[k]; 0 when the video is not longer than one clip."""
    if num_frames >= length:
        return 0
    return int(np.linspace(0, max(length - num_frames, 1), num_clips)[k])


def resampled_length(num_video_frames: int, video_fps: float, fps: float) -> int:
    """How many frames 1/fps seconds apart a video of ``num_video_frames`` frames at ``video_fps`` holds: those at
    times t < (L - 0.5) / F, as SEVERE's reader counts them (at least 1)."""
    return max(1, math.ceil((num_video_frames - 0.5) * fps / video_fps))


def time_frame_indices(
    start: int, num_frames: int, *, video_fps: float, fps: float, num_video_frames: int
) -> np.ndarray:
    """Stored-frame indices of a clip of ``num_frames`` frames 1/fps seconds apart from resampled frame ``start``:
    the frame shown at each time, floor(t F); times past the end wrap around (looping a short video)."""
    m = resampled_length(num_video_frames, video_fps, fps)
    times = ((start + np.arange(num_frames)) % m) / fps
    # The small margin keeps a product that is a whole number in exact arithmetic (2 / 16 * 24 = 3) from flooring
    # to the frame before through a rounding error.
    return np.minimum(np.floor(times * video_fps + 1e-6).astype(np.int64), num_video_frames - 1)
