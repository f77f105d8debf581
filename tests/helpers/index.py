"""Helpers of the dataset-index tests: copying a prepared clip into a tree, reading an index by path, and videos
with a particular structure."""

from __future__ import annotations

import shutil
from pathlib import Path

import av

from cvrl_pl.data.index import VideoIndex
from tests.helpers.videos import index_frame


def put(clips: dict[str, Path], name: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clips[name], path)
    return path


def by_path(index: VideoIndex) -> dict:
    return {v.path: v for v in index.videos}


def decodable_frames(path: Path) -> int:
    """Frames PyAV decodes from the whole file before the end or the first error."""
    count = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                count += 1
        except av.FFmpegError:
            pass
    return count


def write_faststart_h264(path: Path, num_frames: int) -> Path:
    """An H.264 .mp4 with its index (moov) at the front, as downloaded videos often are."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for k in range(num_frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(index_frame(k, 48, 64), format="rgb24")))
        out.mux(stream.encode(None))
    return path
