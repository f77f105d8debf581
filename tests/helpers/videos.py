"""Small test videos written with PyAV, whose frames carry their own index so decoded clips can be checked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 8  # frame index encoded in 8 vertical bars: up to 256 frames
CODECS = {
    "vp9": ("libvpx-vp9", ".webm"),
    "h264": ("libx264", ".mp4"),
    "vp8": ("libvpx", ".webm"),
    "mjpeg": ("mjpeg", ".avi"),
    "mpeg4": ("mpeg4", ".avi"),  # MPEG-4 part 2 in AVI, tagged XVID: how UCF-101 and HMDB-51 ship
    "hevc": ("libx265", ".mp4"),
    "av1": ("libsvtav1", ".mkv"),
    "prores": ("prores_ks", ".mov"),  # ProRes 422 at 10 bits, as cameras and editors export it
}


def index_frame(k: int, height: int, width: int) -> np.ndarray:
    """An RGB frame (H, W, 3) whose bar b is white when bit b of k is set (robust to lossy coding)."""
    bars = ((k >> np.arange(BITS)) & 1).astype(np.uint8) * 255
    row = np.repeat(bars, int(np.ceil(width / BITS)))[:width]
    return np.repeat(np.repeat(row[None, :, None], height, axis=0), 3, axis=2)


def read_index(frame: np.ndarray) -> int:
    """Decode the index drawn by ``index_frame`` from an (H, W, 3) or (3, H, W) frame, in [0, 1] or [0, 255]."""
    if frame.shape[0] == 3 and frame.shape[-1] != 3:
        frame = np.moveaxis(frame, 0, -1)
    width = frame.shape[1]
    gray = frame.astype(np.float64).mean(axis=(0, 2))
    scale = 1.0 if gray.max() <= 1.0 else 255.0
    centres = ((np.arange(BITS) + 0.5) * np.ceil(width / BITS)).astype(int).clip(max=width - 1)
    bits = gray[centres] / scale > 0.5
    return int((bits * (1 << np.arange(BITS))).sum())


@contextmanager
def _scheduling_kept() -> Iterator[None]:
    """Restore this thread's scheduling policy afterwards: SVT-AV1's encoder, run as root, switches the calling
    thread to SCHED_FIFO at priority 99, which every process started later inherits (a test suite's training
    subprocesses then spin against each other and a 10-second run takes 10 minutes)."""
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)


def write_video(
    path: str | Path,
    num_frames: int,
    width: int = 64,
    height: int = 48,
    codec: str = "vp9",
    fps: int = 25,
    frames: np.ndarray | None = None,
    lossless: bool = False,
    pix_fmt: str | None = None,
    gop: int | None = None,
    bframes: int = 0,
    audio_first: bool = False,
    faststart: bool = False,
) -> Path:
    """Write ``frames`` (N, H, W, 3 uint8), or index-coded frames, with constant frame rate, in ``pix_fmt``
    (default 8-bit 4:2:0), a keyframe every ``gop`` frames (default: the encoder's) and, for H.264 and MPEG-4
    part 2, up to ``bframes`` B-frames in a row (stored after the frame they are shown before), and with
    ``audio_first`` a silent AAC track as stream 0, before the video (as many downloaded files have it); with
    ``faststart`` an MP4's header before its data, as web video is served; returns the path."""
    name, _ = CODECS[codec]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    with _scheduling_kept(), av.open(str(path), "w", options=options) as out:
        audio = out.add_stream("aac", rate=48000) if audio_first else None
        stream = out.add_stream(name, rate=fps)
        stream.width, stream.height = width, height
        default = {"mjpeg": "yuvj420p", "prores": "yuv422p10le"}.get(codec, "yuv420p")
        stream.pix_fmt = pix_fmt or default
        if lossless:  # VP9 lossless: identical input frames decode to bit-identical frames
            stream.options = {"lossless": "1", "deadline": "realtime", "cpu-used": "8"}
        elif codec == "mjpeg":
            stream.options = {"q:v": "2"}
        elif codec == "h264":
            stream.options = {"preset": "ultrafast", "crf": "10"}
        elif codec == "mpeg4":
            stream.codec_context.codec_tag, stream.options = "XVID", {"qscale": "2"}
        elif codec == "hevc":
            stream.options = {"preset": "ultrafast", "crf": "10", "x265-params": "log-level=error"}
        elif codec == "av1":
            stream.options = {"preset": "12", "crf": "20"}
        elif codec == "prores":
            stream.options = {"profile": "2"}  # ProRes 422
        else:
            stream.options = {"crf": "10", "b:v": "0", "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        if gop is not None:
            stream.codec_context.gop_size = gop
        if bframes and codec == "mpeg4":
            stream.options = {**stream.options, "bf": str(bframes)}
        elif bframes:
            stream.options = {**stream.options, "preset": "veryfast", "x264-params": f"bframes={bframes}:scenecut=0"}
        for k in range(num_frames):
            image = frames[k] if frames is not None else index_frame(k, height, width)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if audio is not None:
            _silence(out, audio, seconds=num_frames / fps)
    return path


def _silence(out, audio, seconds: float) -> None:
    """``seconds`` of silent stereo audio on ``audio``."""
    samples = int(seconds * audio.rate)
    for start in range(0, samples, 1024):
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = audio.rate, start
        out.mux(audio.encode(frame))
    out.mux(audio.encode(None))


def write_vfr(path: Path, times_ms: list[int], encoder: str = "libx264") -> Path:
    """A variable-frame-rate video: frame k at time times_ms[k] milliseconds (a 1/1000 time base)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(encoder, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast"} if encoder == "libx264" else {"deadline": "realtime"}
        for k, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(index_frame(k, 48, 64), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_class_videos(
    root: str | Path, num_videos: int, num_frames: int = 20, width: int = 40, height: int = 32, classes: int = 2
) -> Path:
    """A folder layout of ``num_videos`` index-coded VP9 videos: ``root/class{i % classes}/v{i:02d}.webm``."""
    root = Path(root)
    for i in range(num_videos):
        write_video(root / f"class{i % classes}" / f"v{i:02d}.webm", num_frames, width=width, height=height)
    return root
