"""UCF-RC's training walk (SEVERE's train_2stream): states start inside their segment, targets come from the true
cycle lengths at m and m + 1, a state moves and rescales by the network's best anchors and fails under 4 frames."""

import math
import random

import numpy as np
import pytest

from cvrl_pl.counting.segments import Segment
from cvrl_pl.counting.tracking import TrackSpec, best_factor, initial_state, next_state, random_step, targets_at


def _segment(period: int, frames: int, count: int, *, unknown_first: bool = False) -> Segment:
    offsets = np.full(frames, period - 1)
    if unknown_first:
        offsets[:period] = -1
    return Segment(1, frames, count, offsets, offsets.copy())


@pytest.mark.parametrize(("period", "frames", "count"), [(10, 60, 6), (25, 300, 12), (7, 20, 3), (40, 90, 2)])
def test_a_walk_starts_inside_its_segment(period, frames, count):
    rng = random.Random(period)
    for unknown in (False, True):
        segment = _segment(period, frames, count, unknown_first=unknown)
        for _ in range(300):
            lp, mp, rp = initial_state(segment, rng)
            assert 0 <= lp <= mp < rp < frames and rp - mp == mp - lp + 1  # the cycle after as long as before


def test_targets_come_from_the_true_cycle_at_m_and_after_it():
    segment = _segment(10, 60, 6)  # every frame's cycles are 10 frames long (offsets 9)
    cls_b, box_b, cls_a, box_a = targets_at(segment, (10, 19, 29))  # estimates 10 and 10: every anchor >= 0.5
    assert cls_b.tolist() == cls_a.tolist() == [1] * 7
    assert box_b[3] == 0.0 and box_a[6] == pytest.approx(math.log(10 / 20))
    cls_b, _, cls_a, _ = targets_at(segment, (30, 59, 89))  # m + 1 past the end: the cycle after is unknown
    assert cls_a.tolist() == [-1] * 7 and cls_b.tolist() == [1, 0, 0, 0, 0, 0, 0]  # 10 against 15..60: 0.5 only


def test_a_step_moves_m_and_rescales_both_cycles():
    assert next_state((10, 19, 29), (1.5, 0.5), 7, 100) == ((12, 26, 31), False, False)
    # before: 10 x 1.5 = 15 -> l = 26 - 15 + 1; after: 10 x 0.5 = 5 -> r = 26 + 5
    assert next_state((10, 19, 29), (0.3, 1.0), 7, 100)[2] is True  # a 3-frame cycle fails
    assert next_state((90, 99, 109), (1.0, 1.0), 1, 100)[1] is True  # m = 100 leaves a 100-frame segment
    three = TrackSpec(anchors=(0.5, 0.67, 0.8))
    assert best_factor(np.array([0.1, 0.9, 0.9]), np.array([0.0, 5.0, 0.0]), three) == pytest.approx(
        math.exp(2.0) * 0.67
    )  # the first of equals; its box clamped to 2
    steps = [random_step(300, random.Random(s)) for s in range(200)]
    assert min(steps) >= 15 and max(steps) <= 60  # 300 / (5 to 20)
