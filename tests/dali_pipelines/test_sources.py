"""The sources' contract: each builds its outputs by name and hands them over in its class's OUTPUTS order, failing
loudly on a name missing or extra; resuming and leaving videos out go through resume_at and exclude."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dali_pipelines.params import ViewAugConfig
from dali_pipelines.sources import ClipSource, PretrainSource, TestViewSource, TrainClipSource
from dali_pipelines.table import VideoTable

VIEW = ViewAugConfig(crop_size=32)
CLIPS = {"num_frames": 4, "stride": 2, "batch_size": 2}


def _table(tmp_path: Path) -> VideoTable:
    """Three videos of 40 frames in a stand-in file: sample() only reads its bytes (DALI's decoders take them)."""
    dummy = tmp_path / "video.bin"
    dummy.write_bytes(bytes(8))
    return VideoTable((str(dummy),) * 3, np.full(3, 40), np.full(3, 64), np.full(3, 48), np.array([0, 1, 2]))


def _sources(tmp_path: Path) -> list[ClipSource]:
    table = _table(tmp_path)
    return [
        PretrainSource(table, (VIEW, VIEW), {"distribution": "uniform"}, **CLIPS),
        TrainClipSource(table, VIEW, **CLIPS),
        TestViewSource(table, num_temporal=2, num_spatial=3, **CLIPS),
    ]


def test_every_source_hands_over_its_class_outputs_in_order(tmp_path):
    for source in _sources(tmp_path):
        assert "OUTPUTS" not in vars(source)  # a class attribute, never set per instance
        assert tuple(source.sample_at(0, 1)) == type(source).OUTPUTS
        outputs = source(SimpleNamespace(epoch_idx=0, idx_in_epoch=1))
        assert len(outputs) == len(source.OUTPUTS)
        for got, expected in zip(outputs, source.sample_at(0, 1).values(), strict=True):
            np.testing.assert_array_equal(got, expected)


def test_a_sample_without_or_beyond_its_outputs_fails_naming_the_source_and_the_names(tmp_path):
    source = _sources(tmp_path)[2]
    outputs = source.sample(0, np.random.default_rng(0))
    del outputs["crop_pos"]
    outputs["warp"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"TestViewSource\.sample.*missing \['crop_pos'\], unexpected \['warp'\]"):
        source.in_order(outputs)


def test_test_views_keep_their_order_and_training_clips_are_shuffled(tmp_path):
    _, train, test = _sources(tmp_path)
    assert (train.shuffle, test.shuffle) == (True, False)
    assert list(test.plan(0).items()) == list(range(6))  # 3 videos x 2 clips, in order


def test_resume_at_starts_past_the_samples_already_read(tmp_path):
    source = _sources(tmp_path)[0]
    source.resume_at(1, 2)
    assert source.first_epoch == 1
    resumed = source(SimpleNamespace(epoch_idx=0, idx_in_epoch=0))  # the first pass: epoch 1 from sample 2
    for got, expected in zip(resumed, source.sample_at(1, 2).values(), strict=True):
        np.testing.assert_array_equal(got, expected)
    later = source(SimpleNamespace(epoch_idx=1, idx_in_epoch=0))  # the next epoch from its start
    np.testing.assert_array_equal(later[-1], source.sample_at(2, 0)["video_id"])


def test_exclude_adds_to_the_videos_left_out_and_says_whether_any_is_new(tmp_path):
    source = _sources(tmp_path)[0]
    assert source.exclude({1}) and source.excluded == frozenset({1})
    assert not source.exclude([1]) and source.excluded == frozenset({1})
    assert source.exclude([2]) and source.excluded == frozenset({1, 2})
    assert all(source.video_of(source.item_at(0, i)[0]) == 0 for i in range(len(source)))


def test_training_clips_per_video_each_read_their_video_several_times_an_epoch(tmp_path):
    source = TrainClipSource(_table(tmp_path), VIEW, clips_per_video=4, **{**CLIPS, "batch_size": 3})
    assert len(source) == 12  # 3 videos x 4 clips
    items = [int(i) for i in source.plan(0).items()]
    assert sorted(source.video_of(i) for i in items) == [0] * 4 + [1] * 4 + [2] * 4
    samples = [source.sample_at(0, i) for i in range(12)]
    assert sorted(int(s["clip_idx"]) for s in samples) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    starts = {int(s["frames"][0]) for s in samples if int(s["video_id"]) == 0}
    assert len(starts) > 1  # each of a video's clips draws its own start


def test_clips_by_time_count_starts_in_resampled_frames(tmp_path):
    table = _table(tmp_path)
    table = VideoTable(
        table.paths,
        np.array([100, 24, 40]),
        table.widths,
        table.heights,
        table.labels,
        fps=np.array([30.0, 24.0, 16.0]),
    )
    test = TestViewSource(table, num_temporal=3, num_spatial=1, fps=16.0, num_frames=8, stride=2, batch_size=3)
    assert [test.length(v) for v in range(3)] == [54, 16, 40]
    first = [int(test.sample(item, np.random.default_rng(0))["frames"][0]) for item in range(9)]
    # video 0: starts 0, 23, 46 of 54 resampled frames (floor of linspace(0, 46, 3)) -> frames floor(30 s / 16)
    assert first[:3] == [0, 43, 86]
    assert first[3:6] == [0, 6, 12]  # 24 fps, 16 resampled frames: starts 0, 4, 8 -> frames 0, 6, 12
    assert first[6:] == [0, 16, 32]  # 16 fps: resampled frames are the stored ones
    train = TrainClipSource(table, VIEW, fps=16.0, num_frames=8, stride=2, batch_size=3)
    frames = train.sample(1, np.random.default_rng(0))["frames"]
    assert np.all(np.diff(frames) % 24 <= 2)  # 24 fps read at 16: steps of 1 or 2 frames, wrapping at the end


def test_clips_by_time_need_the_frame_rates(tmp_path):
    with pytest.raises(ValueError, match="need the videos' frame rates"):
        TestViewSource(_table(tmp_path), fps=16.0, **CLIPS)


def test_a_sample_of_several_segments_holds_one_clip_from_each_part_of_its_video(tmp_path):
    table = _table(tmp_path)  # 40 frames: parts [0, 20) and [20, 40); clips of 4 frames every 2 span 7 frames
    test = TestViewSource(table, num_temporal=3, num_spatial=1, segments=2, **CLIPS)
    # view k takes the k-th of 3 evenly spaced clips of each part: starts 0, 6, 13 of a part's 14 starts
    for k, start in enumerate([0, 6, 13]):
        frames = test.sample(k, np.random.default_rng(0))["frames"]
        np.testing.assert_array_equal(frames, np.r_[start + np.arange(0, 8, 2), 20 + start + np.arange(0, 8, 2)])
    train = TrainClipSource(table, ViewAugConfig(crop_size=32, flip_prob=0.5), segments=2, **CLIPS)
    for i in range(20):
        sample = train.sample(i % 3, np.random.default_rng(i))
        first, second = sample["frames"][:4], sample["frames"][4:]
        assert 0 <= first[0] <= 13 and 20 <= second[0] <= 33  # each clip starts inside its own part
        assert np.all(np.diff(first) == 2) and np.all(np.diff(second) == 2)
        warp = sample["warp"]
        assert len(warp) == 8 and (warp[:4] == warp[0]).all() and (warp[4:] == warp[4]).all()  # a view per clip
    one = TrainClipSource(table, VIEW, segments=1, **CLIPS).sample(0, np.random.default_rng(5))
    assert len(one["frames"]) == 4  # one segment: the plain clip, as before
