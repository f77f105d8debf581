"""Each video's stream format (codec, profile, pixel format, bit depth, chroma): the distinct formats of an index's
videos, grouped column-wise, and a format's name. Decoder routing and the index's report go by format, not by video."""

from __future__ import annotations

import numpy as np

from cvrl_pl.data.index.columns import read_rows
from cvrl_pl.data.index.records import CATEGORIES, CHUNK, VideoRecord
from cvrl_pl.data.index.views import VideoColumns
from dali_pipelines.decoders import FRAME_SIZE, nvdec_minimum, nvdec_size_fault

SIDES = ("width", "height")


def _packed(parts: list[np.ndarray]) -> np.ndarray:
    """The five small codes (12 bits each), then the packets' fault bits and the frame-size fault, as one number."""
    *codes, faults, size_fault = (np.asarray(part, np.int64) for part in parts)
    key = np.zeros(len(faults), np.int64)
    for code in codes:
        key = (key << 12) | code
    return (key << 3) | faults | FRAME_SIZE * size_fault


def stream_formats(videos: VideoColumns) -> tuple[list[dict], np.ndarray]:
    """The distinct stream formats (codec, profile, pix_fmt, bit_depth, chroma, and ``faults``: what keeps the
    video off NVDEC, decoders.NVDEC_FAULTS' bits, from its packets and its frame size) of the videos, and per video
    the one it has: grouped column-wise, so a 10M-video index takes no per-video Python."""
    names = (*CATEGORIES, "bit_depth")
    minimum = np.array([nvdec_minimum(c) for c in videos.vocab["codec"]], np.int64).reshape(-1, 2)  # per codec code
    n = len(videos)
    which = np.empty(n, np.uint16)  # a handful of formats in any real dataset; uint16 halves a 70M-video temporary
    keys: dict[int, int] = {}  # packed codes -> format number
    for start in range(0, n, CHUNK):  # in chunks: no 10M-long temporaries
        stop = min(n, start + CHUNK)
        read = {name: read_rows(videos.columns[name], start, stop) for name in (*names, "stream_faults", *SIDES)}
        read["size_fault"] = nvdec_size_fault(*(read[side] for side in SIDES), minimum[read["codec"]])
        parts = [read[name] for name in (*names, "stream_faults", "size_fault")]
        if all(part.min() == part.max() for part in parts):  # one format in the chunk, as in most datasets
            distinct, inverse = _packed([part[:1] for part in parts]), None
        else:
            distinct, inverse = np.unique(_packed(parts), return_inverse=True)
        numbers = [keys.setdefault(k, len(keys)) for k in distinct.tolist()]
        if len(keys) > np.iinfo(which.dtype).max + 1:
            raise ValueError(f"{len(keys)} distinct stream formats: more than the index's routing counts")
        which[start:stop] = numbers[0] if inverse is None else np.asarray(numbers, which.dtype)[inverse.reshape(-1)]
    formats = []
    for packed in keys:
        codes = [(packed >> (3 + 12 * (len(names) - 1 - k))) & 0xFFF for k in range(len(names))]
        found = {n: (videos.vocab[n][c] if n in CATEGORIES else c) for n, c in zip(names, codes, strict=True)}
        formats.append({**found, "faults": packed & 7})
    return formats, which


def format_name(v: VideoRecord | dict) -> str:
    """A video's stream format in one word-group: "h264 High 10 yuv420p10le"."""
    parts = (v["codec"], v["profile"], v["pix_fmt"]) if isinstance(v, dict) else (v.codec, v.profile, v.pix_fmt)
    return " ".join(part for part in parts if part)
