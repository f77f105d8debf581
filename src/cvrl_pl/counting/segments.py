"""The training samples of UCF-RC: random sub-segments of each training video, each spanning at least two of its
cycle boundaries' gaps, drawn as SEVERE's loader draws them (``datasets/ucf_aug.py``, ``make_dataset``; 10 a video,
drawn once for the run) with their count and per-frame cycle lengths."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from cvrl_pl.data.ucfrep import Repetitions


@dataclass(frozen=True)
class Segment:
    """Frames ``first`` to ``last`` (1-based, inclusive) of a video, counted ``count`` times, with the cycle length
    after and before each of its frames (-1: unknown)."""

    first: int
    last: int
    count: int
    offset_next: np.ndarray
    offset_pre: np.ndarray

    @property
    def frames(self) -> int:
        return self.last - self.first + 1


def draw_segment(video: Repetitions, rng: random.Random, *, max_frames: int = 300) -> Segment:
    """One training sub-segment of ``video``: boundary indices p < e (e >= p + 2) drawn uniformly, the segment from
    a random frame of the cycle ending at boundary p (the covered span's start when p = 0) to a random frame of the
    cycle starting at boundary e - 1 (the span's end when e = K), cut to ``max_frames`` frames; count e - p.

    The cycles between boundaries p and e - 1 (e - p - 1 of them) lie wholly inside the segment; the count adds
    the partial cycles it starts and ends in, about half a cycle each on average. SEVERE's quirks, kept so that the
    task is SEVERE's: the count stays e - p when the cut shortens the segment, and a segment that starts at the
    span's start (p = 0) or ends at its end (e = K) still counts that end as a partial cycle, so the whole span of K - 1
    cycles is counted K. Python's ``random.randint`` (both ends included), as SEVERE's."""
    b, k = video.bounds, len(video.bounds)
    if k < 3:
        raise ValueError(f"{video.name}: {k} cycle boundaries; a training segment needs two cycles")
    p = rng.randint(0, k - 3)
    e = rng.randint(p + 2, k)
    first = video.start_frame if p == 0 else rng.randint(int(b[p - 1]), int(b[p]))
    last = video.end_frame if e == k else rng.randint(int(b[e - 1]), int(b[e]))
    last = min(last, first + max_frames - 1)
    window = slice(first - video.start_frame, last - video.start_frame + 1)
    return Segment(first, last, e - p, video.offset_next[window], video.offset_pre[window])


def training_segments(
    videos: list[Repetitions], *, per_video: int = 10, max_frames: int = 300, seed: int = 0
) -> list[Segment]:
    """``per_video`` segments of every video with at least two cycles (SEVERE skips the others), in video order,
    drawn from one stream seeded by ``seed``: the same list on every rank and resume."""
    rng = random.Random(seed)
    return [
        draw_segment(video, rng, max_frames=max_frames)
        for video in videos
        if len(video.bounds) >= 3 and video.duration > 0
        for _ in range(per_video)
    ]
