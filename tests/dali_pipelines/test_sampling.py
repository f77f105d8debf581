"""CVRL temporal interval sampling: ranges, looping, and the gap law by a goodness-of-fit test."""

import numpy as np
import pytest
from scipy import stats

from dali_pipelines.sampling import (
    clip_frame_indices,
    eval_clip_start,
    gap_from_uniform,
    sample_clip_starts,
    start_range,
    train_clip_start,
)


def test_start_range():
    assert start_range(64, 16, 2) == 34
    assert start_range(30, 16, 2) == 0


@pytest.mark.parametrize("distribution", ["decreasing", "uniform", "fixed", "same"])
def test_clips_stay_inside_the_video(distribution):
    rng = np.random.default_rng(0)
    for _ in range(2000):
        s1, s2 = sample_clip_starts(64, 16, 2, rng, distribution=distribution, gap=10)
        for s in (s1, s2):
            assert s >= 0 and s + 15 * 2 <= 63


def test_fixed_and_same_gaps():
    rng = np.random.default_rng(1)
    assert {
        abs(a - b) for a, b in (sample_clip_starts(64, 16, 2, rng, distribution="fixed", gap=10) for _ in range(200))
    } == {10}
    assert {abs(a - b) for a, b in (sample_clip_starts(64, 16, 2, rng, distribution="same") for _ in range(200))} == {0}
    # a fixed gap longer than the video allows is capped at the largest possible
    assert gap_from_uniform(0.5, 34, "fixed", gap=100) == 33


def test_order_is_swapped_half_the_time():
    rng = np.random.default_rng(2)
    draws = [sample_clip_starts(64, 8, 1, rng, distribution="uniform") for _ in range(4000)]
    first_later = np.mean([a > b for a, b in draws if a != b])
    assert 0.46 < first_later < 0.54


def _law(distribution: str, m: int, power: float = 1.0) -> np.ndarray:
    """P(gap = t) for integer t: the continuous law's mass on [t, t + 1) (the sampler floors)."""
    t = np.arange(m + 1)
    cdf = t / m if distribution == "uniform" else 1 - (1 - t / m) ** (power + 1)
    return np.diff(cdf)


@pytest.mark.parametrize(("distribution", "power"), [("decreasing", 1.0), ("decreasing", 2.0), ("uniform", 1.0)])
def test_gap_distribution_goodness_of_fit(distribution, power):
    rng = np.random.default_rng(3)
    m = start_range(80, 16, 2)  # 50 start positions
    gaps = [
        abs(a - b)
        for a, b in (sample_clip_starts(80, 16, 2, rng, distribution=distribution, power=power) for _ in range(20000))
    ]
    observed = np.bincount(gaps, minlength=m)
    expected = _law(distribution, m, power) * len(gaps)
    assert stats.chisquare(observed, expected).pvalue > 0.001
    # and the wrong law is rejected with the same data
    other = _law("uniform" if distribution == "decreasing" else "decreasing", m) * len(gaps)
    assert stats.chisquare(observed, other).pvalue < 1e-6


def test_linear_decrease_mean_gap():
    rng = np.random.default_rng(4)
    gaps = [abs(a - b) for a, b in (sample_clip_starts(230, 16, 2, rng) for _ in range(20000))]
    # density 2/M (1 - t/M) has mean M/3; flooring lowers it by about 1/2
    assert np.mean(gaps) == pytest.approx(200 / 3 - 0.5, abs=1.0)


def test_short_video_loops_and_draws_independent_starts():
    rng = np.random.default_rng(5)
    starts = np.array([sample_clip_starts(10, 16, 2, rng) for _ in range(2000)])
    assert starts.min() == 0 and starts.max() == 9
    assert np.corrcoef(starts[:, 0], starts[:, 1])[0, 1] == pytest.approx(0, abs=0.08)
    assert clip_frame_indices(7, 5, 2, 10).tolist() == [7, 9, 1, 3, 5]


def test_rejects_unknown_law_and_empty_video():
    with pytest.raises(ValueError, match="unknown temporal distribution"):
        gap_from_uniform(0.5, 10, "gaussian")
    with pytest.raises(ValueError, match="at least one frame"):
        sample_clip_starts(0, 16, 2, np.random.default_rng())


def test_eval_clip_starts_are_evenly_spaced():
    assert [eval_clip_start(k, 10, 90) for k in range(10)] == list(range(0, 91, 10))
    assert eval_clip_start(0, 1, 90) == 45
    assert eval_clip_start(3, 10, -5) == 0  # a video shorter than a clip: loops from its start


def test_train_clip_start_keeps_the_clip_inside_or_loops_a_short_video():
    rng = np.random.default_rng(0)
    starts = [train_clip_start(40, 6, 2, rng) for _ in range(2000)]
    assert min(starts) == 0 and max(starts) == 40 - 5 * 2 - 1  # uniform over the 30 starts that fit
    short = {train_clip_start(7, 6, 2, rng) for _ in range(500)}
    assert short == set(range(7))  # shorter than a clip: any frame, the clip loops
