"""CVRL temporal interval sampling: ranges, looping, and the gap law by a goodness-of-fit test."""

import numpy as np
import pytest
from scipy import stats

from dali_pipelines.sampling import (
    clip_frame_indices,
    eval_clip_start,
    gap_from_uniform,
    gap_probabilities,
    linspace_clip_start,
    pair_partner_law,
    resampled_length,
    sample_clip_starts,
    start_range,
    time_frame_indices,
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


# --- rho > 2 clips: clip k is drawn from the pair law given clip 1 (docs/recipe.md, Beyond the paper). ---


def _pair_law(distribution: str, m: int, power: float = 1.0, gap: int = 0) -> np.ndarray:
    """P(s1 = x, s2 = y) of the two-clip sampler, from the closed-form gap law (or the fixed gap's point mass)."""
    law = np.eye(m)[min(gap, m - 1)] if distribution == "fixed" else _law(distribution, m, power)
    t = np.abs(np.arange(m)[:, None] - np.arange(m)[None])
    return law[t] / (m - t) * np.where(t > 0, 0.5, 1.0)


@pytest.mark.parametrize(
    ("distribution", "power", "gap"),
    [("decreasing", 1.0, 0), ("decreasing", 2.0, 0), ("uniform", 1.0, 0), ("fixed", 1.0, 3)],
)
def test_gap_probabilities_are_the_sampler_law(distribution, power, gap):
    m = 23
    expected = np.eye(m)[gap] if distribution == "fixed" else _law(distribution, m, power)
    np.testing.assert_allclose(gap_probabilities(m, distribution, power=power, gap=gap), expected, atol=1e-12)
    assert gap_probabilities(4, "same").tolist() == [1.0, 0.0, 0.0, 0.0]
    # the pair law it implies sums to one, and given s1 = x the partner law is its row x, normalised
    joint = _pair_law(distribution, m, power, gap)
    assert joint.sum() == pytest.approx(1.0)
    gaps = gap_probabilities(m, distribution, power=power, gap=gap)
    np.testing.assert_allclose(pair_partner_law(5, gaps), joint[5] / joint[5].sum(), atol=1e-12)


@pytest.mark.parametrize(("distribution", "power"), [("decreasing", 1.0), ("decreasing", 2.0), ("uniform", 1.0)])
def test_every_pair_with_clip_one_follows_the_two_clip_law(distribution, power):
    """At rho = 4 the joint law of (s1, sk) is the pair law for k = 2, 3, 4 (chi-square over all M x M cells)."""
    rng = np.random.default_rng(6)
    m, draws = 8, 20000
    starts = np.array(
        [
            sample_clip_starts(m + 5 * 2, 6, 2, rng, distribution=distribution, power=power, num_clips=4)
            for _ in range(draws)
        ]
    )
    assert starts.shape == (draws, 4) and starts.min() == 0 and starts.max() == m - 1
    expected = _pair_law(distribution, m, power).ravel() * draws
    keep = expected > 0
    for k in (1, 2, 3):
        observed = np.bincount(starts[:, 0] * m + starts[:, k], minlength=m * m)
        assert stats.chisquare(observed[keep], expected[keep]).pvalue > 0.001
    # and a later pair is not the pair law for the uniform gap (given s1 they are independent): rejected
    observed = np.bincount(starts[:, 1] * m + starts[:, 2], minlength=m * m)
    if distribution == "uniform":
        assert stats.chisquare(observed[keep], expected[keep]).pvalue < 1e-6


def test_later_pairs_nearly_follow_the_default_linear_law():
    """Exact law of the gap between clips 2 and 3: within 0.02 (M = 50) and 0.004 (M = 270, Kinetics at 16 x 2)
    of the linear law in total variation, against 0.24 for a uniform gap law."""

    def distance(m: int, distribution: str) -> float:
        gaps = gap_probabilities(m, distribution)
        given = np.stack([pair_partner_law(x, gaps) for x in range(m)])  # given[x, y] = P(sk = y | s1 = x)
        first = _pair_law(distribution, m).sum(axis=1)  # P(s1 = x)
        joint = np.einsum("x,xy,xz->yz", first, given, given)  # (s2, s3)
        t = np.abs(np.arange(m)[:, None] - np.arange(m)[None])
        return 0.5 * np.abs(np.bincount(t.ravel(), weights=joint.ravel(), minlength=m) - gaps).sum()

    assert distance(50, "decreasing") < 0.02 and distance(270, "decreasing") < 0.004
    assert distance(50, "uniform") > 0.2


@pytest.mark.parametrize("distribution", ["decreasing", "uniform", "fixed", "same"])
def test_rho_clips_stay_inside_and_keep_fixed_and_same_gaps_to_clip_one(distribution):
    rng = np.random.default_rng(7)
    starts = np.array(
        [sample_clip_starts(64, 16, 2, rng, distribution=distribution, gap=10, num_clips=3) for _ in range(500)]
    )
    assert starts.min() >= 0 and starts.max() + 15 * 2 <= 63
    gaps = set(np.abs(starts[:, 1:] - starts[:, :1]).ravel().tolist())
    assert gaps == {"fixed": {10}, "same": {0}}.get(distribution, gaps)
    short = np.array([sample_clip_starts(10, 16, 2, rng, num_clips=4) for _ in range(500)])
    assert short.shape == (500, 4) and short.min() == 0 and short.max() == 9  # looped, independent


def test_two_clips_are_the_only_draws_at_rho_two_and_rho_below_two_is_an_error():
    a, b = np.random.default_rng(8), np.random.default_rng(8)
    assert sample_clip_starts(64, 8, 2, a, num_clips=2) == sample_clip_starts(64, 8, 2, b)
    assert a.random() == b.random()  # the same random state after: nothing else drawn
    with pytest.raises(ValueError, match="at least two clips"):
        sample_clip_starts(64, 8, 2, a, num_clips=1)


def _severe_reader_frames(start_time: float, num_frames: int, video_fps: float, fps: float, n: int) -> list[int]:
    """The frames SEVERE's reader (utils/ioutils/av_wrappers.py, av_load_video) decodes for a clip, written from
    its rule: times start, start + 1/fps, ... before min(start + duration - 0.5/F, end), the first
    ``duration * fps`` of them, each shown frame int(t F)."""
    duration, end = num_frames / fps, n / video_fps
    times = np.arange(start_time, min(start_time + duration - 0.5 / video_fps, end), 1.0 / fps)[:num_frames]
    return [int(t * video_fps) for t in times]


@pytest.mark.parametrize(("video_fps", "n"), [(30.0, 300), (25.0, 250), (29.97, 91), (24.0, 48), (16.0, 64)])
def test_clips_by_time_read_the_frames_severe_reads(video_fps, n):
    m = resampled_length(n, video_fps, 16.0)
    assert m == len(_severe_reader_frames(0.0, 10**6, video_fps, 16.0, n))  # every frame time of the whole video
    for start in range(0, max(1, m - 32), 7):
        got = time_frame_indices(start, 32, video_fps=video_fps, fps=16.0, num_video_frames=n)
        if start + 32 <= m:  # a whole clip inside the video: SEVERE's reader, frame for frame
            assert got.tolist() == _severe_reader_frames(start / 16.0, 32, video_fps, 16.0, n)


def test_clips_by_time_hand_worked_and_looped():
    # 30 fps, 100 frames: times k/16 show frames floor(30 k / 16); the 54 times before 99.5 / 30 s.
    assert resampled_length(100, 30.0, 16.0) == 54
    idx = time_frame_indices(0, 6, video_fps=30.0, fps=16.0, num_video_frames=100)
    assert idx.tolist() == [0, 1, 3, 5, 7, 9]
    # A video of 1 s at 24 fps holds 16 times: a 32-frame clip plays it twice.
    idx = time_frame_indices(0, 32, video_fps=24.0, fps=16.0, num_video_frames=24)
    assert idx[:16].tolist() == [0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22]
    assert idx[16:].tolist() == idx[:16].tolist()
    # Exact products land on their frame, not the one before: 2/16 s at 24 fps is frame 3.
    assert time_frame_indices(2, 1, video_fps=24.0, fps=16.0, num_video_frames=24).tolist() == [3]


def test_linspace_clip_starts_are_severes_dense_test_positions():
    # SEVERE: timestamps = np.linspace(0, max(nf - 32, 1), 10).astype(int) over the resampled frames.
    for length in (33, 40, 100, 161):
        expected = np.linspace(0, max(length - 32, 1), 10).astype(int).tolist()
        assert [linspace_clip_start(k, 10, length, 32) for k in range(10)] == expected
    assert [linspace_clip_start(k, 10, 20, 32) for k in range(10)] == [0] * 10  # not longer than a clip: all at 0
    assert [linspace_clip_start(k, 3, 100, 32) for k in range(3)] == [0, 34, 68]
