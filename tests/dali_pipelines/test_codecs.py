"""Every codec users have goes through the sparse path: the packets a sample's frames need, remuxed by codec id
(not by the name of the decoder PyAV opened), decode to exactly the frames a whole-file decode gives, with each
FFmpeg decoder that reads that codec here (FFmpeg's own VP8/VP9 decoders and libvpx's; libdav1d for AV1), and
through the pipeline's own readers (read_clip: PyAV, and DALI's CPU decoder where it reads the codec)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from cvrl_pl.data.index import probe_video
from dali_pipelines.packets import sparse_video
from tests.helpers import ROOT
from tests.helpers.decoding import assert_read_clip_is_whole_file, decode_with
from tests.helpers.real_world import REAL_WORLD, write_real_world

# (file of the real-world folder, FFmpeg decoder): every decoder this PyAV offers for the codec and can run here.
# FFmpeg's native "av1" decoder is left out: it decodes only through a hardware accelerator ("Function not
# implemented" without one), so PyAV picks libdav1d for AV1.
PAIRS = [
    ("av1.mp4", "libdav1d"),
    ("vp8.webm", "vp8"),
    ("vp8.webm", "libvpx"),
    ("vp9.webm", "vp9"),
    ("vp9.webm", "libvpx-vp9"),
    ("vp9_63x47.webm", "libvpx-vp9"),
    ("mpeg4.avi", "mpeg4"),  # MPEG-4 part 2 with B-frames, in AVI
    ("mjpeg.avi", "mjpeg"),
    ("hevc.mp4", "hevc"),
    ("h264_shipped.mp4", "h264"),  # High profile, B-frames, audio as stream 0
    ("h264_10bit.mp4", "h264"),
    ("h264_444.mp4", "h264"),
    ("prores.mov", "prores"),
]


@pytest.fixture(scope="module")
def real_world(tmp_path_factory) -> dict[str, Path]:
    return write_real_world(tmp_path_factory.mktemp("real_world"))


def wanted_frames(n: int) -> np.ndarray:
    """Two overlapping clips in the middle, a repeated frame, the first and the last frame."""
    mid = n // 2 - 4
    return np.array([*range(mid, mid + 8, 2), *range(mid + 3, mid + 11, 2), mid + 4, 0, n - 1, 0])


@pytest.mark.parametrize(("name", "decoder"), PAIRS)
def test_the_kept_packets_decode_to_the_whole_files_frames(real_world, name, decoder):
    path = real_world[name]
    info = probe_video(path)
    assert not isinstance(info, str), info
    wanted = wanted_frames(info.num_frames)
    sparse = sparse_video(str(path), wanted, np.array(info.keyframes), np.array(info.keyframe_pts))
    with av.open(io.BytesIO(sparse.data)) as kept, av.open(str(path)) as original:
        assert kept.streams.video[0].codec_context.codec.id == original.streams.video[0].codec_context.codec.id
    whole = decode_with(path, decoder)
    assert len(whole) == info.num_frames
    frames = decode_with(sparse.data, decoder)[sparse.frames][sparse.order]
    np.testing.assert_array_equal(frames, whole[wanted])


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_read_clip_gives_the_whole_files_frames_with_every_decoder_that_reads_it(real_world, name):
    info = probe_video(real_world[name])
    assert_read_clip_is_whole_file(real_world[name], wanted_frames(info.num_frames))


def test_read_clip_reads_an_svt_av1_mp4(real_world, tmp_path):
    """The command that exited with 'error: V.mp4: libdav1d' before remuxing took the codec by id."""
    out = tmp_path / "x.npy"
    command = [sys.executable, "-m", "cvrl_pl.tools.read_clip", str(real_world["av1.mp4"]), "--frames", "0,1,2,10"]
    done = subprocess.run([*command, "--decoder", "pyav", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(np.load(out), decode_with(real_world["av1.mp4"], "libdav1d")[[0, 1, 2, 10]])
