"""Multi-label targets and mAP (Charades): interval overlap, and average precision against a by-hand ranking."""

import numpy as np
import pytest

from cvrl_pl.eval.multilabel import average_precision, mean_average_precision
from dali_pipelines.targets import interval_targets, video_targets

ACTIONS = [(2, 11.9, 21.2), (4, 0.0, 12.6), (1, 30.0, 45.0)]  # the last one runs past a 32 s video's end


def test_a_clip_takes_the_actions_its_time_span_overlaps():
    assert np.flatnonzero(interval_targets(ACTIONS, 0.0, 2.56, 5)).tolist() == [4]
    assert np.flatnonzero(interval_targets(ACTIONS, 10.0, 12.56, 5)).tolist() == [2, 4]
    assert np.flatnonzero(interval_targets(ACTIONS, 21.2, 23.0, 5)).tolist() == []  # touching an end is not overlap
    assert np.flatnonzero(interval_targets(ACTIONS, 29.5, 32.0, 5)).tolist() == [1]  # past the end, it still counts
    assert interval_targets([], 0.0, 5.0, 5).tolist() == [0.0] * 5  # a video with no actions
    assert np.flatnonzero(video_targets(ACTIONS, 5)).tolist() == [1, 2, 4]


def test_average_precision_is_the_mean_precision_at_each_positive():
    # ranked: 0.9 (hit), 0.8 (miss), 0.7 (hit), 0.1 (hit): precisions 1, 2/3, 3/4 at the hits
    assert average_precision(np.array([0.1, 0.9, 0.7, 0.8]), np.array([1, 1, 1, 0])) == pytest.approx(
        (1 + 2 / 3 + 3 / 4) / 3
    )
    assert average_precision(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5  # ties keep the index order


def test_map_drops_classes_without_a_positive_and_is_in_percent():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.6], [0.4, 0.3, 0.9]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])  # class 2 has no positive
    assert mean_average_precision(scores, targets) == pytest.approx(100.0 * (1.0 + 1.0) / 2)
    worse = scores.copy()
    worse[:, 0] = [0.1, 0.9, 0.8]  # class 0: ranked miss, hit, hit -> precisions 1/2, 2/3
    assert mean_average_precision(worse, targets) == pytest.approx(100.0 * ((1 / 2 + 2 / 3) / 2 + 1.0) / 2)
    with pytest.raises(ValueError, match="no class has a positive"):
        mean_average_precision(scores, np.zeros((3, 3)))
