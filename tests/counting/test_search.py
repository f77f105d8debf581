"""The counting search (SEVERE's val_2stream) on a synthetic oracle head that knows each video's period: the middle's
cycle is found over scales, the merge keeps it, and the count is length / period; where no position's contexts fit
in the video, the count falls back to length / the middle's cycle."""

import numpy as np
import pytest

from cvrl_pl.counting.anchors import ANCHORS
from cvrl_pl.counting.search import SearchSpec, count_repetitions, middle_cycle


def oracle(periods):
    """A head that sees each video's true cycle length: each anchor's probability falls with its log distance from
    the truth over the current estimate, and its box is that log ratio."""
    periods = np.asarray(periods, np.float64)
    anchors = np.asarray(ANCHORS)

    def side(estimate):
        ratio = np.log(periods[:, None] / (anchors[None] * np.maximum(estimate, 1.0)[:, None]))
        return np.exp(-4 * np.abs(ratio)), ratio

    def predict(states):
        lp, mp, rp = states.T
        return (*side(mp - lp + 1), *side(rp - mp))

    return predict


@pytest.mark.parametrize("length", [300, 173])
def test_the_search_counts_periodic_videos_by_their_period(length):
    periods = [10, 13, 17, 25, 31] if length == 300 else [9, 14, 21]
    counts = count_repetitions(np.full(len(periods), length), oracle(periods))
    truth = np.asarray([length / p for p in periods])
    assert np.all(np.abs(counts - truth) / truth < 0.05), (counts, truth)
    assert np.all(np.abs(np.round(counts) - truth) <= 1)  # within one after rounding, as OBOA counts


def test_the_middle_cycle_is_found_over_scales_and_refined():
    found = middle_cycle(np.array([300.0, 300.0]), oracle([12, 40]), SearchSpec())
    assert (abs(found[0] + 1 - 12) <= 1) and (abs(found[1] + 1 - 40) <= 1)  # a half-window of one cycle


def test_without_a_position_whose_contexts_fit_the_count_is_the_middles():
    # a 120-frame cycle in 300 frames: the context before (one cycle back) and after (two ahead) never both fit
    counts = count_repetitions(np.array([300.0]), oracle([120]))
    best = middle_cycle(np.array([300.0]), oracle([120]), SearchSpec())
    assert counts[0] == pytest.approx(300 / (best[0] + 1))
    assert round(counts[0]) in (2, 3)  # 2.5 cycles
