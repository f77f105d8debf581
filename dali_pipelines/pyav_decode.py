"""Frames decoded with PyAV in the per-sample source workers: H.264/HEVC on a machine without a GPU, where DALI's
CPU decoder handles only VP8/VP9/MJPEG (docs/data_pipeline.md)."""

from __future__ import annotations

import io

import numpy as np


class VideoDecodeError(RuntimeError):
    """A video that does not decode as its index says: damaged, truncated or replaced since it was indexed."""


def decode_pyav(video: str | bytes, indices: np.ndarray) -> np.ndarray:
    """Frames ``indices`` (any order, repeats allowed) of a video (a path, or a stream in memory: packets.py) as
    uint8 (N, H, W, 3), decoded with PyAV.

    Decodes from the start up to the last frame needed. A decoding error, or a file that ends before a wanted
    frame (the index counted more), raises :class:`VideoDecodeError` naming the file: the loader leaves the
    video out rather than train on a clip that is not what was sampled.
    """
    import av  # imported here: only the PyAV path needs it

    path = video if isinstance(video, str) else "the stream of the packets kept"
    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        with av.open(video if isinstance(video, str) else io.BytesIO(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for k, frame in enumerate(container.decode(stream)):
                decoded = k + 1
                if k in wanted:
                    got[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"{path}: decoding failed after {decoded} frames: {exc}") from exc
    if len(got) < len(wanted):
        raise VideoDecodeError(f"{path}: the file ends after {decoded} frames; frame {last} was asked for")
    return np.stack([got[int(i)] for i in indices])
