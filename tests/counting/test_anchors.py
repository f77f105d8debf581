"""The anchors' targets (SEVERE's update_labels): IoU of the true cycle length with each scale of the estimate;
positive at or over 0.5 with log(truth / anchor), negative under it, everything ignored where the truth is unknown."""

import math

import numpy as np

from cvrl_pl.counting.anchors import ANCHORS, IGNORE, anchor_targets


def test_anchor_targets_against_hand_worked_ious():
    cls, box = anchor_targets(9, 30.0)  # a 10-frame cycle; anchors 15, 20.1, 24, 30, 37.5, 45, 60
    assert cls.tolist() == [1, 0, 0, 0, 0, 0, 0]  # 10/15 = 0.67 only; 10/20.1 = 0.4975 misses
    assert box[0] == math.log(10 / 15) and np.isnan(box[1:]).all()
    cls, box = anchor_targets(9, 10.0)  # every anchor 5..20 has IoU >= 0.5: 0.5 itself is a positive
    assert cls.tolist() == [1] * 7
    np.testing.assert_allclose(box, [math.log(10 / (a * 10.0)) for a in ANCHORS])


def test_an_unknown_cycle_is_ignored_everywhere():
    cls, box = anchor_targets(-1, 12.0)
    assert cls.tolist() == [IGNORE] * 7 and np.isnan(box).all()
