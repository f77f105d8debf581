"""One colour conversion whatever decodes a video: PyAV's frames match DALI's CPU decoder's on files tagged BT.709,
untagged (BT.601) and full range: within the figures issue 40 asks for (per-channel mean difference <= 1 level, mean
absolute difference <= 2), and in fact bit for bit; both stay near the frames that were encoded."""

from __future__ import annotations

import av
import numpy as np
import pytest

from dali_pipelines.pyav_decode import decode_pyav
from tests.helpers.decoding import whole_dali
from tests.helpers.videos import write_video

WIDTH, HEIGHT, FRAMES = 96, 64, 6
# (matrix, range) tags as FFmpeg numbers them: AVCOL_SPC_BT709 = 1, SMPTE170M (BT.601) = 6; MPEG (limited) = 1,
# JPEG (full) = 2. None: untagged.
TAGS = {"bt709": (1, 1), "untagged": (None, None), "bt601_full": (6, 2)}


def source_frames() -> np.ndarray:
    """Colour gradients over a fine texture, each frame another blue: every hue and level the matrices differ on."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([x * 255 / (WIDTH - 1), y * 255 / (HEIGHT - 1), np.zeros_like(x, float)], -1)
    frames = []
    for k in range(FRAMES):
        frame = base + [0, 0, 40 * k] + rng.normal(0, 6, base.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_tagged(path, frames: np.ndarray, matrix: int | None, colour_range: int | None):
    """VP9 (DALI's CPU decoder reads it) converted to YUV by the matrix and range it is tagged with."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx-vp9", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "4", "deadline": "realtime", "cpu-used": "8"}
        context = stream.codec_context
        if matrix is not None:
            context.colorspace = context.color_primaries = context.color_trc = matrix
            context.color_range = colour_range
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if matrix is not None:
                frame = frame.reformat(format="yuv420p", dst_colorspace=matrix, dst_color_range=colour_range)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize("tag", list(TAGS))
def test_pyav_converts_as_dali_does(tmp_path, tag):
    frames = source_frames()
    path = write_tagged(tmp_path / f"{tag}.webm", frames, *TAGS[tag])
    dali = whole_dali(path, np.arange(FRAMES)).astype(np.int32)
    pyav = decode_pyav(str(path), np.arange(FRAMES)).astype(np.int32)
    difference = (pyav - dali).reshape(-1, 3)
    assert np.abs(difference.mean(0)).max() <= 1.0, difference.mean(0)
    assert np.abs(difference).mean() <= 2.0
    assert np.array_equal(pyav, dali)  # measured: the same conversion, bit for bit (pyav_decode.frame_rgb)
    # Both as near what was encoded as each other. A BT.601 file: 3.8 levels off on average, what 4:2:0 chroma and
    # the encoder cost on this texture. A BT.709 file, converted as BT.601 by DALI (and so by PyAV now): 8.6, the price
    # of one conversion for every decoder (measured 2026-12-07).
    expected = 10.0 if tag == "bt709" else 5.0
    for decoded in (pyav, dali):
        assert np.abs(decoded - frames).mean() <= expected


@pytest.mark.parametrize("size", [(161, 144), (160, 145), (95, 63)])
def test_odd_sizes_decode_alike_on_dali_cpu_and_pyav(tmp_path, size):
    """An odd width or height, which the routing keeps off NVDEC, reads the same on the two decoders that take it."""
    path = write_video(tmp_path / "odd.webm", 8, width=size[0], height=size[1], codec="vp9")
    dali = whole_dali(path, np.arange(8))
    assert dali.shape == (8, size[1], size[0], 3)
    np.testing.assert_array_equal(dali, decode_pyav(str(path), np.arange(8)))
