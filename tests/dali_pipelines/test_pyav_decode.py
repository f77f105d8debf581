"""The PyAV decoder of the source workers: frames in any order, and a file shorter than its index says loops."""

import numpy as np

from dali_pipelines.pyav_decode import decode_pyav
from tests.helpers.videos import read_index, write_video


def test_pyav_decode_loops_when_a_file_has_fewer_frames_than_indexed(tmp_path, caplog):
    path = write_video(tmp_path / "short.mp4", 9, codec="h264")
    frames = decode_pyav(str(path), np.array([8, 2, 30]))
    assert [read_index(f) for f in frames[:2]] == [8, 2]
    assert read_index(frames[2]) == 30 % 9
    assert "looping" in caplog.text
