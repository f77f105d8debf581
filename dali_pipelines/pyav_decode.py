"""Frames decoded with PyAV in the per-sample source workers: H.264/HEVC on a machine without a GPU, where DALI's
CPU decoder handles only VP8/VP9/MJPEG (docs/data_pipeline.md)."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def decode_pyav(path: str, indices: np.ndarray) -> np.ndarray:
    """Frames ``indices`` (any order, repeats allowed) of a video as uint8 (N, H, W, 3), decoded with PyAV.

    Decodes from the start up to the last frame needed. If the file yields fewer frames than the index says
    (damage past the probed part), the missing positions wrap around the frames that did decode, with a warning.
    """
    import av  # imported here: only the PyAV path needs it

    wanted = set(int(i) for i in indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for k, frame in enumerate(container.decode(stream)):
                decoded = k + 1
                if k in wanted:
                    got[k] = frame.to_ndarray(format="rgb24")
                if k >= last:
                    break
    except av.error.FFmpegError as exc:
        log.warning("%s: decoding stopped after %d frames: %s", path, decoded, exc)
    if not got:
        raise RuntimeError(f"{path}: no frame could be decoded")
    if len(got) < len(wanted):
        log.warning("%s: only %d frames decode; looping them", path, decoded)
        return decode_pyav(path, np.asarray(indices) % decoded)
    return np.stack([got[int(i)] for i in indices])
