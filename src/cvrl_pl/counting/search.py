"""Counting a test video with the trained head (SEVERE's ``val_2stream.py``, from Zhang et al.'s code): find the cycle
length at the video's middle by a search over scales, refine it, spread 2^levels positions over the video and
refine the cycle before and after each by a hierarchical merge, then count = length x the mean of
0.5 / cycle before + 0.5 / cycle after over the positions whose contexts lie inside the video, rounded.

Positions are frames of the test sample (the annotated span), from 0. ``predict`` runs the network: for a batch of
states (l, m, r) it returns, per anchor, the probability that the cycle before m (after m) matches the anchor's
scale of the current estimate, and the regression of that anchor, as arrays (B, anchors). The integer conversions
(truncation where SEVERE stores a float in an integer array, Python's round elsewhere) are SEVERE's, line for line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cvrl_pl.counting.anchors import ANCHORS

# states (B, 3) -> (before probabilities, before boxes, after probabilities, after boxes), each (B, anchors)
Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SearchSpec:
    """The search's constants (SEVERE's val_opt for UCFRep)."""

    anchors: tuple[float, ...] = ANCHORS
    min_scale: float = 0.03  # the coarse search's half-windows: 0.03 to 0.35 of the length, log-spaced
    max_scale: float = 0.35
    scales: int = 30
    refinements: int = 4  # passes that refine the middle's cycle length
    merge_levels: int = 5  # 2^5 positions, merged over 5 levels
    merge_weight: float = 0.5  # how much of a new estimate replaces the old one
    min_cycles: int = 2  # a cycle is at most length / min_cycles (UCFRep: 2)
    box_clamp: float = 0.5  # the regressions are clamped to +-0.5
    left_context: float = 1.0
    right_context: float = 2.0


def _factor(probs: np.ndarray, boxes: np.ndarray, anchors: tuple[float, ...]) -> float:
    """The scale factor of the most probable anchor (the first of equals, as SEVERE's strict >) and its box."""
    k = int(np.argmax(probs))
    return math.exp(boxes[k]) * anchors[k]


def _step(state: tuple[int, int, int], factors: tuple[float, float], length: int, spec: SearchSpec):
    """SEVERE's action_step with step 0: rescale the cycles before and after m (each kept within 4 frames and length
    / min_cycles); (new state, failed: a cycle under 4 frames)."""
    lp, mp, rp = state
    cap = length / spec.min_cycles
    before = min(max(4, (mp - lp + 1) * factors[0]), cap)
    after = min(max(4, (rp - mp) * factors[1]), cap)
    mp = int(mp)
    lp, rp = int(mp - before + 1), int(mp + after)
    return (lp, mp, rp), (mp - lp + 1) < 4 or (rp - mp) < 4


def middle_cycle(lengths: np.ndarray, predict: Predict, spec: SearchSpec) -> np.ndarray:
    """The half-window at each video's middle whose cycle the head confirms best, over ``spec.scales`` log-spaced
    scales (the 1.0 anchor's probability), then refined ``spec.refinements`` times (B,), integers as SEVERE's."""
    b = len(lengths)
    best, best_score = np.zeros(b, np.int64), np.full(b, -1e6)
    middle = lengths / 2
    one = spec.anchors.index(1.0)
    for k in range(spec.scales):
        power = (spec.max_scale / spec.min_scale) ** (k / (spec.scales - 1))
        half = lengths * spec.min_scale * power
        probs, boxes, _, _ = predict(np.stack([middle - half, middle, middle + half + 1], axis=1))
        boxes = np.clip(boxes, -spec.box_clamp, spec.box_clamp)
        for j in range(b):
            found = half[j] * math.exp(boxes[j, one]) * spec.anchors[one]
            if probs[j, one] > best_score[j] and 4 <= found < lengths[j] / spec.min_cycles:
                best_score[j], best[j] = probs[j, one], int(found)  # SEVERE's integer array truncates
    for _ in range(spec.refinements):
        half = best.astype(np.float64)
        probs, boxes, _, _ = predict(np.stack([middle - half, middle, middle + half + 1], axis=1))
        boxes = np.clip(boxes, -spec.box_clamp, spec.box_clamp)
        for j in range(b):
            found = best[j] * math.exp(boxes[j, one]) * spec.anchors[one]
            if 4 <= found < lengths[j] / spec.min_cycles:
                best[j] = round(float(best[j] * (1 - spec.merge_weight)) + float(found * spec.merge_weight))
    return best


def count_repetitions(lengths: np.ndarray, predict: Predict, spec: SearchSpec = SearchSpec()) -> np.ndarray:
    """The counts (B,) of test samples of ``lengths`` frames, before rounding (counting_scores rounds them)."""
    lengths = np.asarray(lengths, np.float64)
    b, levels, w = len(lengths), spec.merge_levels, spec.merge_weight
    n = 2**levels
    best = middle_cycle(lengths, predict, spec)
    mp = np.zeros((b, levels, n), np.int64)
    lp_l, lp_r, rp_l, rp_r = (np.zeros((b, levels, n), np.int64) for _ in range(4))
    for j in range(b):
        for q in range(n):
            mp[j, 0, q] = int(lengths[j] / (n + 1) * (q + 0.5))
            lp_l[j, 0, q] = lp_r[j, 0, q] = mp[j, 0, q] - best[j]
            rp_l[j, 0, q] = rp_r[j, 0, q] = mp[j, 0, q] + best[j] + 1
    for level in range(1, levels):
        steps = 2 ** (levels - level - 1)
        for node in range(2**level):
            pos = steps + 2 * steps * node  # the position this node refines; it moves the 2 steps around it
            load = np.zeros((b, 3), np.int64)  # (l, m, r) fed to the network
            save = np.zeros((b, 3), np.int64)  # (l, m, r) it proposed
            for it in range({1: 4, 2: 2}.get(level, 1)):
                for j in range(b):
                    if it == 0:  # the two estimates of this position, averaged
                        load[j] = (
                            round(float(lp_l[j, level - 1, pos] + lp_r[j, level - 1, pos]) / 2),
                            mp[j, level - 1, pos],
                            round(float(rp_l[j, level - 1, pos] + rp_r[j, level - 1, pos]) / 2),
                        )
                    else:  # the last proposal merged in
                        load[j] = (
                            round(float(save[j, 0]) * w + float(load[j, 0]) * (1 - w)),
                            save[j, 1],
                            round(float(save[j, 2]) * w + float(load[j, 2]) * (1 - w)),
                        )
                p1, b1, p2, b2 = predict(load.astype(np.float64))
                b1, b2 = (np.clip(x, -spec.box_clamp, spec.box_clamp) for x in (b1, b2))
                for j in range(b):
                    factors = (_factor(p1[j], b1[j], spec.anchors), _factor(p2[j], b2[j], spec.anchors))
                    (lp, m, rp), failed = _step(tuple(int(x) for x in load[j]), factors, int(lengths[j]), spec)
                    save[j] = (lp, m, rp) if not failed else (load[j, 0], m, load[j, 2])
            for j in range(b):
                left = float(save[j, 0]) * w + float(load[j, 0]) * (1 - w)
                right = float(save[j, 2]) * w + float(load[j, 2]) * (1 - w)
                centre = mp[j, level - 1, pos]
                last_node = node == 2**level - 1
                for s in range(-steps, steps):
                    q = pos + s
                    mp[j, level, q] = mp[j, level - 1, q]
                    moved = (int(mp[j, level - 1, q] + (left - centre)), int(mp[j, level - 1, q] + (right - centre)))
                    whole = level <= 2 or level == levels - 1 or (node == 0 if s < 0 else last_node)
                    if s < 0:  # positions before this node's: its estimate is their right-hand one
                        lp_r[j, level, q], rp_r[j, level, q] = moved
                        if whole:
                            lp_l[j, level, q], rp_l[j, level, q] = moved
                        else:
                            lp_l[j, level, q], rp_l[j, level, q] = lp_l[j, level - 1, q], rp_l[j, level - 1, q]
                    else:  # from this node's on: its estimate is their left-hand one
                        lp_l[j, level, q], rp_l[j, level, q] = moved
                        if whole:
                            lp_r[j, level, q], rp_r[j, level, q] = moved
                        else:
                            lp_r[j, level, q], rp_r[j, level, q] = lp_r[j, level - 1, q], rp_r[j, level - 1, q]
    counts = np.zeros(b)
    last = levels - 1
    for j in range(b):
        inverse_before, inverse_after = [], []
        for q in range(n):
            lp = round(float(lp_l[j, last, q] + lp_r[j, last, q]) / 2)
            rp = round(float(rp_l[j, last, q] + rp_r[j, last, q]) / 2)
            m = mp[j, last, q]
            first, end = int(lp - (m - lp + 1) * spec.left_context), int(rp + (rp - m) * (spec.right_context - 1))
            if first >= 0 and end < lengths[j]:  # both contexts inside the video
                inverse_before.append(1.0 / float(m - lp + 1))
                inverse_after.append(1.0 / float(rp - m))
        if not inverse_before or sum(inverse_before) == 0 or sum(inverse_after) == 0:
            counts[j] = lengths[j] / float(best[j] + 1)  # no position's contexts fit: the middle's estimate
        else:
            counts[j] = lengths[j] * (sum(inverse_before) * 0.5 + sum(inverse_after) * 0.5) / len(inverse_before)
    return counts
