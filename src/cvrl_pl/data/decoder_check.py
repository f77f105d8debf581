"""Before a run trusts a DALI decoder with the data, it decodes one tiny built-in clip with it on the rank's device.

Without this, a machine where NVDEC cannot work at all (a container without the driver's video library,
libnvcuvid, because NVIDIA_DRIVER_CAPABILITIES lacks ``video``; a sticky CUDA error) makes every video fail to
decode, and the bad-video guard reports good videos as damaged until it stops with "is the data still there?".
"""

from __future__ import annotations

import io
from functools import cache

import av
import numpy as np

from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import DALI_CPU, NVDEC
from dali_pipelines.verify import decoder_error

# The built-in clip per decoder: a codec every NVDEC generation decodes (8-bit 4:2:0 H.264), and one DALI's CPU
# decoder reads (VP9).
PROBE_CODECS = {NVDEC: ("libx264", "mp4"), DALI_CPU: ("libvpx-vp9", "webm")}
PROBE_FRAMES = 8


@cache
def probe_clip(decoder: int) -> bytes:
    """A tiny clip (8 frames of 64 x 64) for ``decoder``, encoded with PyAV in memory."""
    encoder, container = PROBE_CODECS[decoder]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for k in range(PROBE_FRAMES):
            frame = np.full((64, 64, 3), 32 * k, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()


def check_decoders(decoders: np.ndarray, device_id: int | None) -> None:
    """ConfigError naming the decoder, DALI's message and the fix if a DALI decoder that the split's videos are
    routed to cannot decode its built-in clip on ``device_id``. Each (decoder, device) is checked once a process."""
    for decoder in (NVDEC, DALI_CPU):
        if (np.asarray(decoders) == decoder).any():
            _check(decoder, device_id)


@cache
def _check(decoder: int, device_id: int | None) -> None:
    clip = np.frombuffer(probe_clip(decoder), np.uint8)
    error = decoder_error(clip, np.arange(PROBE_FRAMES), decoder, device_id)
    if error is None:
        return
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
