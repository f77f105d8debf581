"""The PyAV decoder of the source workers: frames in any order and repeated; a file that does not hold what its
index says (shorter, damaged) is an error naming it, never a clip of other frames."""

import numpy as np
import pytest

from dali_pipelines.failures import FrameOutOfRange
from dali_pipelines.pyav_decode import VideoDecodeError, decode_pyav
from tests.helpers.damage import damage_payload
from tests.helpers.videos import read_index, write_video


def test_frames_in_any_order_with_repeats(tmp_path):
    path = write_video(tmp_path / "v.mp4", 12, codec="h264")
    frames = decode_pyav(str(path), np.array([8, 2, 2, 11, 0]))
    assert frames.shape == (5, 48, 64, 3)
    assert [read_index(f) for f in frames] == [8, 2, 2, 11, 0]


def test_a_file_shorter_than_indexed_is_an_error(tmp_path):
    path = write_video(tmp_path / "short.mp4", 9, codec="h264")
    assert [read_index(f) for f in decode_pyav(str(path), np.array([8, 2]))] == [8, 2]
    with pytest.raises(FrameOutOfRange, match=rf"{path}: the file ends after 9 frames; frame 30 was asked for"):
        decode_pyav(str(path), np.array([8, 2, 30]))


def test_damaged_payload_and_missing_files_are_errors(tmp_path):
    path = damage_payload(write_video(tmp_path / "good.webm", 48), tmp_path / "damaged.webm", from_frame=30)
    assert [read_index(f) for f in decode_pyav(str(path), np.array([0, 29]))] == [0, 29]  # before the damage
    with pytest.raises(VideoDecodeError, match=rf"{path}: decoding failed after 30 frames: .*Invalid data"):
        decode_pyav(str(path), np.array([0, 40]))
    with pytest.raises(VideoDecodeError, match=r"^decoding failed after 30 of the frames kept: Invalid data found"):
        decode_pyav(path.read_bytes(), np.array([0, 40]))  # a stream in memory: the caller names the file
    with pytest.raises(VideoDecodeError, match="missing.webm: decoding failed after 0 frames"):
        decode_pyav(str(tmp_path / "missing.webm"), np.array([0]))
