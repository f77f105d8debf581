"""A folder of the kinds of files real datasets hold, not only the project's usual small VP9: H.264 as downloads
ship it (High profile, B-frames, an audio track as stream 0), variable frame rate, sizes that are not multiples of
16 (odd ones too), portrait, HEVC, AV1 (SVT-AV1, in MP4), VP8, VP9, MPEG-4 part 2 and MJPEG in AVI, 10-bit and 4:4:4
H.264, ProRes in MOV, a 12-frame clip, one keyframe in 300 frames, and 64x48. Every frame carries its own index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.helpers.videos import write_vfr, write_video

# name -> how it is written (at the path given)
REAL_WORLD: dict[str, Callable[[Path], Path]] = {
    "h264_shipped.mp4": lambda p: write_video(p, 75, 96, 72, "h264", gop=25, bframes=3, audio_first=True),
    "h264_vfr.mp4": lambda p: write_vfr(p, [40 * k + 13 * (k % 4 == 1) for k in range(60)]),
    "h264_94x58.mp4": lambda p: write_video(p, 50, 94, 58, "h264", gop=20),
    "vp9_63x47.webm": lambda p: write_video(p, 50, 63, 47, "vp9", gop=20),
    "h264_portrait.mp4": lambda p: write_video(p, 50, 48, 80, "h264", gop=20, bframes=2),
    "hevc.mp4": lambda p: write_video(p, 50, 64, 48, "hevc", gop=20),
    "av1.mp4": lambda p: write_video(p, 50, 64, 48, "av1", gop=20),
    "vp8.webm": lambda p: write_video(p, 50, 64, 48, "vp8", gop=20),
    "vp9.webm": lambda p: write_video(p, 50, 64, 48, "vp9", gop=20),
    "mpeg4.avi": lambda p: write_video(p, 50, 64, 48, "mpeg4", gop=12, bframes=2),
    "mjpeg.avi": lambda p: write_video(p, 50, 64, 48, "mjpeg"),
    "h264_10bit.mp4": lambda p: write_video(p, 50, 64, 48, "h264", gop=20, pix_fmt="yuv420p10le"),
    "h264_444.mp4": lambda p: write_video(p, 50, 64, 48, "h264", gop=20, pix_fmt="yuv444p"),
    "prores.mov": lambda p: write_video(p, 30, 64, 48, "prores"),
    "h264_12_frames.mp4": lambda p: write_video(p, 12, 64, 48, "h264"),
    "h264_keyframe_300.mp4": lambda p: write_video(p, 330, 64, 48, "h264", gop=300),
    "h264_64x48.mp4": lambda p: write_video(p, 40, 64, 48, "h264", gop=10, bframes=3),
}


def write_real_world(root: Path) -> dict[str, Path]:
    """Every kind of REAL_WORLD in ``root`` (flat: an unlabelled pretraining folder); name -> path."""
    return {name: write(Path(root) / name) for name, write in REAL_WORLD.items()}
