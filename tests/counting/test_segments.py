"""UCF-RC's training segments (SEVERE's make_dataset): two or more boundary gaps, counted e - p, starting in the
cycle before boundary p and ending in the cycle after boundary e - 1, so that the cycles between lie wholly inside."""

import random

import numpy as np
import pytest

from cvrl_pl.counting.segments import draw_segment, training_segments
from cvrl_pl.data.ucfrep import Repetitions


def _periodic(period: int, cycles: int, *, start: int = 1, name: str = "v_JumpRope_g01_c01") -> Repetitions:
    bounds = start + period * np.arange(cycles + 1)
    duration = int(bounds[-1] - start + 1)
    offsets = np.full(duration, period - 1)
    return Repetitions(name, "train", duration, start, int(bounds[-1]), bounds, offsets, offsets)


def test_segments_cover_whole_cycles_and_count_the_boundaries_they_span():
    video = _periodic(10, 6, start=5)  # boundaries 5, 15, ..., 65
    rng = random.Random(0)
    for _ in range(500):
        s = draw_segment(video, rng, max_frames=300)
        inside = [int(b) for b in video.bounds if s.first <= b <= s.last]
        assert s.count >= 2 and len(inside) >= s.count - 1  # the e - p - 1 cycles between lie wholly inside
        whole = [(a, b) for a, b in zip(video.bounds, video.bounds[1:], strict=False) if s.first <= a and b <= s.last]
        assert len(whole) >= s.count - 1
        assert 5 <= s.first <= s.last <= 65 and s.frames == s.last - s.first + 1
        assert len(s.offset_next) == len(s.offset_pre) == s.frames
    assert {draw_segment(video, rng).count for _ in range(2000)} == {2, 3, 4, 5, 6, 7}  # every e - p, 2 to K


class Scripted:
    """randint returning the given values in turn (each checked to lie in its range)."""

    def __init__(self, *values: int):
        self.values = iter(values)

    def randint(self, a: int, b: int) -> int:
        value = next(self.values)
        assert a <= value <= b
        return value


def test_the_draws_place_the_ends_in_their_cycles_and_keep_severes_count_of_the_whole_span():
    video = _periodic(10, 6, start=5)  # boundaries 5, 15, ..., 65: K = 7
    s = draw_segment(video, Scripted(2, 5, 19, 52))  # p = 2, e = 5: from cycle 1 (15..25) to cycle 4 (45..55)
    assert (s.first, s.last, s.count) == (19, 52, 3)  # cycles 2 and 3 (25..45) whole, two partial ends
    s = draw_segment(video, Scripted(0, 7))  # p = 0, e = K: the whole span, no frame drawn
    assert (s.first, s.last, s.count) == (5, 65, 7)  # SEVERE's quirk, kept: 6 cycles, counted K = 7


def test_a_long_segment_is_cut_and_keeps_its_count():
    video = _periodic(100, 5)  # 500 frames
    rng = random.Random(3)
    cut = [s for s in (draw_segment(video, rng, max_frames=300) for _ in range(200)) if s.frames == 300]
    assert cut and all(s.count >= 2 for s in cut)  # SEVERE's count is kept where the cut shortens the segment
    assert max(draw_segment(video, rng, max_frames=300).frames for _ in range(200)) <= 300


def test_training_segments_are_ten_a_video_the_same_for_a_seed_and_skip_single_cycles():
    videos = [_periodic(8, 4), _periodic(12, 1, name="v_Biking_g01_c01"), _periodic(6, 3, name="v_Rowing_g02_c01")]
    segments = training_segments(videos, per_video=10, seed=7)
    assert len(segments) == 20  # the one-cycle video gives none
    again = training_segments(videos, per_video=10, seed=7)
    assert [(s.first, s.last, s.count) for s in segments] == [(s.first, s.last, s.count) for s in again]
    other = training_segments(videos, per_video=10, seed=8)
    assert [(s.first, s.last) for s in segments] != [(s.first, s.last) for s in other]
    with pytest.raises(ValueError, match="a training segment needs two cycles"):
        draw_segment(videos[1], random.Random(0))
