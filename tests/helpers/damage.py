"""Files that break after they were indexed, the ways downloaded datasets do: damaged payload past the probed
part, cut short, deleted, replaced by garbage."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np


def damage_payload(src: Path, dst: Path, from_frame: int) -> Path:
    """``src`` re-muxed to ``dst`` with every third byte of the packets from ``from_frame`` on flipped: the container
    is intact (the index counts every frame and the first one decodes), decoding fails at ``from_frame``."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream_in = inp.streams.video[0]
        stream_out = out.add_stream_from_template(stream_in)
        k = 0
        for packet in inp.demux(stream_in):
            if packet.size == 0:
                continue
            if k >= from_frame:
                data = bytearray(bytes(packet))
                data[::3] = bytes(b ^ 0xFF for b in data[::3])
                damaged = av.Packet(bytes(data))
                damaged.pts, damaged.dts, damaged.time_base = packet.pts, packet.dts, packet.time_base
                damaged.is_keyframe = packet.is_keyframe
                packet = damaged
            packet.stream = stream_out
            out.mux(packet)
            k += 1
    return dst


def truncate(path: Path, keep: float) -> Path:
    """Cut ``path`` to the first ``keep`` fraction of its bytes (an interrupted download)."""
    os.truncate(path, int(path.stat().st_size * keep))
    return path


def replace_with_garbage(path: Path, seed: int = 0) -> Path:
    """Overwrite ``path`` with random bytes of the same length."""
    path.write_bytes(np.random.default_rng(seed).bytes(path.stat().st_size))
    return path
