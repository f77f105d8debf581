"""Before a run trusts a DALI decoder with the data, it decodes one tiny built-in clip with it on the rank's device,
the way training hands it videos: only the packets some frames need, remuxed (dali_pipelines/packets.py), and the
frames compared with PyAV's decode of the whole clip.

Without this, a machine where NVDEC cannot work at all (a container without the driver's video library,
libnvcuvid, because NVIDIA_DRIVER_CAPABILITIES lacks ``video``; a sticky CUDA error) makes every video fail to
decode, and the bad-video guard reports good videos as damaged until it stops with "is the data still there?". A
decoder that takes the remuxed packets but returns other frames than PyAV would train on wrong pixels unnoticed.
"""

from __future__ import annotations

import io
from functools import cache

import av
import numpy as np

from cvrl_pl.data.index.probe import probe_file
from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import DALI_CPU, NVDEC
from dali_pipelines.packets import sparse_video
from dali_pipelines.pyav_decode import decode_pyav
from dali_pipelines.verify import dali_frames, error_message

# The built-in clip per decoder: a codec every NVDEC generation decodes (8-bit 4:2:0 H.264, with B-frames, so that
# decode order differs from display order as in most real files), and one DALI's CPU decoder reads (VP9).
PROBE_CODECS = {
    NVDEC: ("libx264", "mp4", {"preset": "veryfast", "x264-params": "bframes=2:scenecut=0"}),
    DALI_CPU: ("libvpx-vp9", "webm", {"deadline": "realtime", "cpu-used": "8"}),
}
PROBE_FRAMES, PROBE_GOP, PROBE_SIZE = 16, 4, 64
# The frames asked for: three spans of the remuxed stream (keyframes 0, 4, 8 and 12), as a training sample's clips.
PROBE_WANTED = np.array([1, 2, 9, 13])
# The most two decoders' frames may differ, in mean absolute difference over all pixels: issue 40's bound between
# DALI's decoders and PyAV (tests/dali_pipelines/test_colour.py). Neighbouring probe frames differ by about 5.
MAX_MEAN_DIFF = 2.0


@cache
def probe_clip(decoder: int) -> bytes:
    """A tiny clip for ``decoder`` (16 frames of 64 x 64, a keyframe every 4), encoded with PyAV in memory: colour
    gradients, each frame another blue, so that a wrong frame or wrong colours show."""
    encoder, container, options = PROBE_CODECS[decoder]
    y, x = np.mgrid[0:PROBE_SIZE, 0:PROBE_SIZE] * (256 // PROBE_SIZE)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=25)
        stream.width = stream.height = PROBE_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = options
        stream.codec_context.gop_size = PROBE_GOP
        for k in range(PROBE_FRAMES):
            frame = np.stack([x, y, np.full_like(x, 16 * k)], -1).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()


def check_decoders(decoders: np.ndarray, device_id: int | None) -> None:
    """ConfigError naming the decoder, DALI's message and the fix if a DALI decoder that the split's videos are
    routed to cannot decode its built-in clip on ``device_id``, or decodes other frames than PyAV. Each (decoder,
    device) is checked once a process."""
    for decoder in (NVDEC, DALI_CPU):
        if (np.asarray(decoders) == decoder).any():
            _check(decoder, device_id)


def difference(decoded: np.ndarray, reference: np.ndarray) -> str | None:
    """How a decoder's frames differ from PyAV's (``reference``), where by more than MAX_MEAN_DIFF levels on
    average or in shape; None where they agree."""
    if decoded.shape != reference.shape:
        return f"frames of shape {decoded.shape} where PyAV gives {reference.shape}"
    mean = float(np.abs(decoded.astype(np.int16) - reference).mean())
    if mean > MAX_MEAN_DIFF:
        return f"{mean:.1f} levels from PyAV's frames on average, over {MAX_MEAN_DIFF:g}"
    return None


@cache
def _check(decoder: int, device_id: int | None) -> None:
    clip = probe_clip(decoder)
    info = probe_file(io.BytesIO(clip))
    keyframes, stamps = info.keyframes, info.keyframe_pts
    sparse = sparse_video(io.BytesIO(clip), PROBE_WANTED, keyframes, stamps, fresh_start=decoder == NVDEC)
    try:
        decoded = dali_frames(np.frombuffer(sparse.data, np.uint8), sparse.frames, decoder, device_id)
    except Exception as exc:  # whatever stops the decoder is the answer
        error = error_message(exc)
    else:
        mismatch = difference(decoded, decode_pyav(clip, PROBE_WANTED, name="the built-in clip"))
        if mismatch is None:
            return
        codec, name = ("H.264", f"NVDEC on cuda:{device_id}") if decoder == NVDEC else ("VP9", "DALI's CPU decoder")
        raise ConfigError(
            f"{name} decodes frames {PROBE_WANTED.tolist()} of a built-in {codec} clip, remuxed as training remuxes "
            f"each sample's packets, wrongly ({mismatch}), so it would train on wrong frames; decode with PyAV: "
            "data.decoder=pyav"
        )
    if decoder == NVDEC:
        raise ConfigError(
            f"NVDEC on cuda:{device_id} cannot decode a built-in H.264 clip ({error}), so it would fail on every "
            "video. In a container, NVIDIA_DRIVER_CAPABILITIES must include video (e.g. compute,utility,video or "
            "all) for the driver's video library to be mounted; after a CUDA error, restart the process. Or decode "
            "without NVDEC: data.decoder=pyav"
        )
    raise ConfigError(
        f"DALI's CPU decoder cannot decode a built-in VP9 clip ({error}), so it would fail on every VP8/VP9/MJPEG "
        "video; check the nvidia-dali installation, or decode with PyAV: data.decoder=pyav"
    )
