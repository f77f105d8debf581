"""How UCF-RC trains (SEVERE's ``train_2stream.py``): each training segment is walked by a state (l, m, r), the cycle
before m taken as l..m and the one after it as m + 1..r. A step feeds the two contexts of every state to the
network, trains on the anchors' targets at m, then moves each state forward by a random step and rescales its
cycles by the network's own best anchors; a state that leaves the segment or shrinks a cycle under 4 frames starts
again. A batch of segments takes at most ``max_steps`` + 1 such steps (SEVERE's early_stop, 10).

States are positions in the segment, from 0; SEVERE keeps them in integer arrays, so every stored value is
truncated, as here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from cvrl_pl.counting.anchors import ANCHORS, anchor_targets
from cvrl_pl.counting.segments import Segment


@dataclass(frozen=True)
class TrackSpec:
    """The walk's constants (SEVERE's train_opt and val_opt)."""

    anchors: tuple[float, ...] = ANCHORS
    min_scale: float = 0.03  # the scales a state may start at: 0.03 to 0.35 of the length
    max_scale: float = 0.35
    scales: int = 30
    max_steps: int = 10  # a batch ends after max_steps + 1 steps (or when every state has left its segment)
    box_clamp: float = 2.0  # the boxes that move a state are clamped to +-2


SEVERE_WALK = TrackSpec()  # SEVERE's values


def initial_state(segment: Segment, rng: random.Random, spec: TrackSpec = TrackSpec()) -> tuple[int, int, int]:
    """A state to start a walk of ``segment`` at (SEVERE's state_init, redrawn until r lies inside): m's cycle
    before starts in the first cycle; its length is, with probability 1/4 each, the first cycle's scaled by 2^u
    (u uniform in [-1, 1]) or by 1/2, 1 or 2 (give or take 0.05), and with probability 1/2 one of the search's
    scales of the segment's length. The cycle after m is as long as the one before."""
    length = segment.frames
    while True:
        lp, mp = _draw(segment, rng, spec)
        lp, mp = int(lp), int(mp)  # SEVERE's integer arrays
        rp = mp + (mp - lp + 1)
        if 0 < rp < length:
            return lp, mp, rp


def _draw(segment: Segment, rng: random.Random, spec: TrackSpec) -> tuple[float, float]:
    length, first = segment.frames, int(segment.offset_next[0])
    lo, hi = (0.0, length / segment.count - 1) if first == -1 else (0.0, first - 1.0)
    lp = lo + int(rng.random() * (hi - lo + 1))
    magic = rng.random()
    if magic < 0.25:
        span = (hi - lo + 1) * 2 ** ((rng.random() - 0.5) * 2)
    elif magic > 0.75:
        span = (hi - lo + 1) * (2 ** rng.randint(-1, 1) + (rng.random() - 0.5) * 0.1)
    else:
        k = rng.randint(0, spec.scales)  # SEVERE's randint reaches one past the last scale
        span = length * spec.min_scale * (spec.max_scale / spec.min_scale) ** (k / (spec.scales - 1))
    rp = max(lp + int(span - 1), lp)
    if rp >= length:
        lp, rp = 0.0, length / segment.count - 1
    if rp * 2 + 1 >= length:
        lp, rp = 0.0, length / 2 - 1
    return lp, rp


def targets_at(segment: Segment, state: tuple[int, int, int], spec: TrackSpec = TrackSpec()):
    """The anchors' targets of a state: (class, box) of the cycle before m (its true length at m against the
    estimate m - l + 1) and of the cycle after (at m + 1, against r - m)."""
    lp, mp, rp = state
    n = segment.frames

    def offset(values: np.ndarray, at: int) -> int:
        return int(values[at]) if 0 <= at < n else -1

    before = anchor_targets(offset(segment.offset_pre, mp), mp - lp + 1, anchors=spec.anchors)
    after = anchor_targets(offset(segment.offset_next, mp + 1), rp - mp, anchors=spec.anchors)
    return (*before, *after)


def best_factor(probs: np.ndarray, boxes: np.ndarray, spec: TrackSpec = TrackSpec()) -> float:
    """The scale factor of the most probable anchor (the first of equals), its box clamped to +-box_clamp."""
    k = int(np.argmax(probs))
    return math.exp(float(np.clip(boxes[k], -spec.box_clamp, spec.box_clamp))) * spec.anchors[k]


def next_state(
    state: tuple[int, int, int], factors: tuple[float, float], step: int, length: int
) -> tuple[tuple[int, int, int], bool, bool]:
    """SEVERE's training action_step: m moves ``step`` frames, the cycles before and after are rescaled by
    ``factors``; (the new state, done: m left the segment, failed: a cycle under 4 frames)."""
    lp, mp, rp = state
    before, after = (mp - lp + 1) * factors[0], (rp - mp) * factors[1]
    mp = int(mp + step)
    lp, rp = int(mp - before + 1), int(mp + after)
    return (lp, mp, rp), mp >= length, (mp - lp + 1) < 4 or (rp - mp) < 4


def random_step(length: int, rng: random.Random) -> int:
    """How far a state moves: length / (5 + 15 u) frames, u uniform, at least one (SEVERE's magic_step)."""
    return int(max(length / (5 + rng.random() * 15), 1))
