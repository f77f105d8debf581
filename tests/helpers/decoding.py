"""Whole-file decodes that the sparse path is checked against: by any FFmpeg decoder PyAV offers, and by DALI's
CPU decoder as the pipeline called it before packets.py (from frame 0, repeats included)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from nvidia.dali import fn, pipeline_def

from cvrl_pl.data.index import probe_video
from cvrl_pl.tools.read_clip import read_clip
from dali_pipelines.pyav_decode import frame_rgb

DALI_CPU_READS = ("vp8", "vp9", "mjpeg")  # at 8 bits (dali_pipelines/decoders.py)


def decode_with(video: Path | bytes, decoder: str | None = None) -> np.ndarray:
    """Every frame of a file or an in-memory stream as RGB (N, H, W, 3), decoded by the FFmpeg decoder named
    ``decoder`` (None: the one PyAV picks for the codec), converted to RGB as DALI converts (pyav_decode.frame_rgb)."""
    with av.open(str(video) if isinstance(video, Path) else io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        if decoder is None:
            frames = list(container.decode(stream))
        else:
            context = av.CodecContext.create(decoder, "r")
            context.extradata = stream.codec_context.extradata
            frames = [f for packet in container.demux(stream) for f in context.decode(packet if packet.size else None)]
    rgb = VideoReformatter()
    return np.stack([frame_rgb(f, rgb) for f in frames])  # converted as the pipeline's PyAV path converts


def whole_dali(path: Path, frames: np.ndarray) -> np.ndarray:
    """Frames ``frames`` of the whole file by DALI's CPU decoder."""
    data = np.fromfile(path, np.uint8)

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def graph():
        encoded = fn.external_source(lambda: [data], batch=True)
        picks = fn.external_source(lambda: [frames.astype(np.int32)], batch=True)
        return fn.decoders.video(encoded, frames=picks, device="cpu", pad_mode="none")

    pipe = graph()
    pipe.build()
    return np.asarray(pipe.run()[0][0])


def assert_read_clip_is_whole_file(path: Path, wanted: np.ndarray) -> None:
    """read_clip's frames ``wanted`` of ``path`` are, bit for bit, a whole-file decode's by the same decoder: PyAV,
    and DALI's CPU decoder where it reads the codec."""
    info = probe_video(path)
    assert not isinstance(info, str), info
    whole = decode_with(path)
    assert len(whole) == info.num_frames
    np.testing.assert_array_equal(read_clip(str(path), wanted.tolist(), decoder="pyav"), whole[wanted])
    if info.codec in DALI_CPU_READS and info.bit_depth == 8:
        np.testing.assert_array_equal(read_clip(str(path), wanted.tolist(), decoder="dali"), whole_dali(path, wanted))
