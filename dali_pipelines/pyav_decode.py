"""Frames decoded with PyAV in the per-sample source workers: H.264/HEVC on a machine without a GPU, where DALI's
CPU decoder handles only VP8/VP9/MJPEG (docs/data_pipeline.md)."""

from __future__ import annotations

import io
from contextlib import nullcontext

import numpy as np

from dali_pipelines import storage
from dali_pipelines.failures import FrameOutOfRange

# swscale's flags for the YUV to RGB conversion (libswscale/swscale.h): SWS_BILINEAR | SWS_FULL_CHR_H_INT |
# SWS_ACCURATE_RND, the conversion DALI's CPU decoder's frames match bit for bit (frame_rgb).
DALI_SWSCALE_FLAGS = 0x2 | 0x2000 | 0x40000


class VideoDecodeError(RuntimeError):
    """A video that does not decode as its index says: damaged, truncated or replaced since it was indexed."""


def decode_pyav(video: storage.Ref | bytes, indices: np.ndarray, *, name: str | None = None) -> np.ndarray:
    """Frames ``indices`` (any order, repeats allowed) of a video (a reference, read through storage.py; a whole
    file's bytes, ``name`` naming it; or a stream remuxed in memory: packets.py) as uint8 (N, H, W, 3), decoded with
    PyAV.

    Decodes from the start up to the last frame needed. A decoding error raises :class:`VideoDecodeError`, a file
    that ends before a wanted frame (the index counted more) :class:`FrameOutOfRange`, both naming the file: the
    loader leaves the video out rather than train on a clip that is not what was sampled.
    """
    import av  # imported here: only the PyAV path needs it
    from av.video.reformatter import VideoReformatter

    in_memory = isinstance(video, bytes | bytearray | memoryview)
    name = name if in_memory else str(video)
    where = f"{name}: " if name else ""  # a stream remuxed in memory: the caller names its file
    indices = np.asarray(indices, np.int64)
    rows: dict[int, np.ndarray] = {int(k): np.flatnonzero(indices == k) for k in np.unique(indices)}
    last = int(indices.max())
    out: np.ndarray | None = None  # (N, H, W, 3), allocated at the first frame: each frame copied once, into place
    decoded = found = 0
    # One converter for every frame: Frame.to_ndarray(format=...) sets up swscale again for each frame, which cost
    # more than decoding (docs/benchmarks.md).
    rgb = VideoReformatter()
    try:
        file = nullcontext(io.BytesIO(video)) if in_memory else storage.opened(video)
        with file as opened, av.open(opened) as container:
            stream = container.streams.video[0]
            # No decoder threads: the source's worker processes decode samples in parallel, and frame threads
            # decode ahead of the last frame needed.
            for k, frame in enumerate(container.decode(stream)):
                decoded = k + 1
                if k in rows:
                    image = frame_rgb(frame, rgb)
                    if out is None:
                        out = np.empty((len(indices), *image.shape), np.uint8)
                    out[rows[k]] = image
                    found += 1
                if k >= last:
                    break
    except (av.error.FFmpegError, OSError) as exc:  # OSError: the file is gone
        words = exc.strerror or str(exc)  # FFmpeg's words, without PyAV's error number
        done = f"{decoded} frames" if where else f"{decoded} of the frames kept"
        raise VideoDecodeError(f"{where}decoding failed after {done}: {words}") from exc
    if out is None or found < len(rows):
        raise FrameOutOfRange(f"{where}the file ends after {decoded} frames; frame {last} was asked for")
    return out


def frame_rgb(frame, reformatter) -> np.ndarray:
    """A decoded frame as RGB uint8 (H, W, 3), converted as DALI's CPU decoder converts: the BT.601 matrix whatever
    the file's tag (DALI's GPU kernel is BT.601 too, DALI issue 4441), the frame's range, and swscale's accurate
    rounding and full chroma interpolation. Measured equal to DALI's frames, bit for bit, on VP9 files tagged BT.709,
    untagged and full range; swscale's default path, which follows the tag and rounds fast, was 1 to 1.5 levels dark
    and, on a BT.709 file, 7 levels off on average (tests/dali_pipelines/test_colour.py)."""
    from av.video.reformatter import Colorspace

    return reformatter.reformat(
        frame, format="rgb24", src_colorspace=Colorspace.ITU601, interpolation=DALI_SWSCALE_FLAGS
    ).to_ndarray()
