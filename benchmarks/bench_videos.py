"""Benchmark videos: moving textured objects at a chosen size, length and codec, in a folder the indexer reads."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import av
import numpy as np

from cvrl_pl.data.generated import render_frames
from cvrl_pl.data.index.probe import probe_video
from dali_pipelines.table import VideoTable

ENCODERS = {  # codec -> (PyAV encoder, file extension, options); quality about that of web video
    "vp9": ("libvpx-vp9", "webm", {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b:v": "0"}),
    "h264": ("libx264", "mp4", {"preset": "ultrafast", "crf": "23"}),
    "mpeg4": ("mpeg4", "avi", {"qscale": "4"}),  # MPEG-4 part 2 in AVI: how UCF-101 and HMDB-51 ship
}


def video_folder(path: Path | None) -> contextlib.AbstractContextManager[str]:
    """``path`` (created if missing) or, without one, a temporary folder removed afterwards."""
    if path is None:
        return tempfile.TemporaryDirectory()
    Path(path).mkdir(parents=True, exist_ok=True)
    return contextlib.nullcontext(str(path))


def write_video(
    path: Path, number: int, frames: int, *, size: tuple[int, int], codec: str, gop: int | None, faststart: bool = False
) -> Path:
    """Video ``number`` of the generated set (a moving textured object), ``frames`` frames at 25 fps of ``size``
    (width, height); ``faststart``: an MP4's index before its data, as web video is served."""
    name, _, options = ENCODERS[codec]
    width, height = size
    side = max(width, height)  # rendered square, then cut to size
    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {}) as out:
        stream = out.add_stream(name, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        if gop:
            stream.codec_context.gop_size = gop
        for first in range(0, frames, 50):  # rendered in chunks: 10 s at 340x256 is 250 frames
            chunk = render_frames(number, np.arange(first, min(first + 50, frames)), side, seed=1)
            for image in (chunk[:, :, :height, :width].permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def make_videos(
    folder: Path, count: int, frames: int, *, size: tuple[int, int], codec: str = "vp9", gop: int | None = None
) -> VideoTable:
    """Write ``count`` videos of ``size`` (width, height), a keyframe every ``gop`` frames (default: the encoder's),
    to ``folder/all/`` (one class, the folder layout), keeping those already there (so several benchmarks can share
    one folder), and return their table, with their keyframes as indexing finds them."""
    _, ext, _ = ENCODERS[codec]
    width, height = size
    (Path(folder) / "all").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = Path(folder) / "all" / f"v{i:04d}_{frames}_{width}x{height}_g{gop or 0}.{ext}"
        paths.append(str(path))
        if not path.is_file():
            write_video(path, i, frames, size=size, codec=codec, gop=gop)
    probes = [probe_video(p) for p in paths]
    n = len(paths)
    return VideoTable(
        tuple(paths), np.full(n, frames), np.full(n, width), np.full(n, height), np.zeros(n, int),
        keyframes=[np.asarray(p.keyframes) for p in probes], keyframe_pts=[np.asarray(p.keyframe_pts) for p in probes],
    )  # fmt: skip
