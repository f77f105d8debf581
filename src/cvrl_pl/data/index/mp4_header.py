"""An MP4's video packets from its header alone: the sample tables of the ``moov`` box give every packet's timestamp,
keyframe flag, byte offset and size, so that probing a video on object storage reads a few KiB (the header and the
first frame) instead of every packet. What it finds equals what demuxing every packet with FFmpeg finds
(tests/data/index/test_mp4_header.py compares the two); a file it does not read plainly (fragmented, an edit list
of more than one edit or starting in a gap, empty samples) gives None, and the probe demuxes as before.

ISO/IEC 14496-12 boxes read: moov > trak > mdia > (hdlr, minf > stbl > stts, ctts, stss, stsz, stsc, stco/co64),
trak > edts > elst.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

MAX_MOOV = 64 << 20  # a header larger than this is not read whole (a 3-hour video's is about 10 MiB)


@dataclass(frozen=True)
class TrackPackets:
    """The first video track's packets, in decode order."""

    stamps: np.ndarray  # (N,) int64: presentation timestamps as FFmpeg gives them (the edit list's start subtracted)
    keys: np.ndarray  # decode positions of the keyframes (sync samples)
    positions: np.ndarray  # (N,) int64: byte offset of each packet in the file
    sizes: np.ndarray  # (N,) int64


def _boxes(data: bytes | memoryview, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start + header, start + size
        start += size


def _child(data, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((a, b) for k, a, b in _boxes(data, start, end) if k == kind), None)


def _path(data, start: int, end: int, *kinds: bytes) -> tuple[int, int] | None:
    for kind in kinds:
        found = _child(data, start, end, kind)
        if found is None:
            return None
        start, end = found
    return start, end


def _read(file: BinaryIO, n: int) -> bytes:
    """``n`` bytes from the file's position (fewer only at its end): a file over byte ranges may read short."""
    parts, left = [], n
    while left > 0 and (chunk := file.read(left)):
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_moov(file: BinaryIO) -> bytes | None:
    """The ``moov`` box's payload, read from the top-level box headers (a few small reads, then the box); None for a
    file that is no MP4, holds movie fragments, or whose header is larger than MAX_MOOV."""
    file.seek(0, 2)
    size = file.tell()
    offset = 0
    while offset + 8 <= size:
        file.seek(offset)
        head = _read(file, 16)
        if len(head) < 8:
            return None
        box, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if box == 1 and len(head) == 16:
            box, header = struct.unpack(">Q", head[8:16])[0], 16
        elif box == 0:
            box = size - offset
        if offset == 0 and kind != b"ftyp":
            return None
        if kind == b"moof" or box < header:
            return None
        if kind == b"moov":
            if box > MAX_MOOV:
                return None
            file.seek(offset + header)
            data = _read(file, box - header)
            return data if len(data) == box - header else None
        offset += box
    return None


def _full_box(data, start: int) -> tuple[int, int]:
    """(version, payload start after the version and flags) of a full box."""
    return data[start], start + 4


def _table(data, box: tuple[int, int] | None, fields: str) -> np.ndarray:
    """The entries of a sample table box (a full box with an entry count), as rows of ``fields`` (struct codes)."""
    if box is None:
        return np.empty((0, len(fields)), np.int64)
    _, at = _full_box(data, box[0])
    (count,) = struct.unpack_from(">I", data, at)
    dtype = np.dtype([(f"f{i}", ">" + code) for i, code in enumerate(fields)])
    rows = np.frombuffer(bytes(data[at + 4 : at + 4 + count * dtype.itemsize]), dtype, count)
    return np.stack([rows[f"f{i}"].astype(np.int64) for i in range(len(fields))], axis=1)


def _video_track(moov: bytes) -> tuple[int, int] | None:
    for kind, start, end in _boxes(moov):
        if kind != b"trak":
            continue
        hdlr = _path(moov, start, end, b"mdia", b"hdlr")
        if hdlr is not None and moov[hdlr[0] + 8 : hdlr[0] + 12] == b"vide":
            return start, end
    return None


def _edit_start(moov: bytes, trak: tuple[int, int]) -> int | None:
    """The media time where the track's one edit starts (0 without an edit list); None for any other edit list."""
    elst = _path(moov, *trak, b"edts", b"elst")
    if elst is None:
        return 0
    version, at = _full_box(moov, elst[0])
    (count,) = struct.unpack_from(">I", moov, at)
    if count != 1:
        return None
    duration, media_time, rate = struct.unpack_from(">QqI" if version else ">IiI", moov, at + 4)
    return media_time if media_time >= 0 and rate == 0x10000 else None


def track_packets(file: BinaryIO) -> TrackPackets | None:
    """The first video track's packets of an MP4, from its header; None where the header does not say it plainly."""
    moov = read_moov(file)
    if moov is None or _child(moov, 0, len(moov), b"mvex") is not None:
        return None
    trak = _video_track(moov)
    if trak is None:
        return None
    edit = _edit_start(moov, trak)
    stbl = _path(moov, *trak, b"mdia", b"minf", b"stbl")
    if edit is None or stbl is None:
        return None
    boxes = {kind: (a, b) for kind, a, b in _boxes(moov, *stbl)}
    stsz = boxes.get(b"stsz")
    if stsz is None or (b"stco" not in boxes and b"co64" not in boxes):
        return None
    _, at = _full_box(moov, stsz[0])
    uniform, count = struct.unpack_from(">II", moov, at)
    if uniform:
        sizes = np.full(count, uniform, np.int64)
    else:
        sizes = np.frombuffer(bytes(moov[at + 8 : at + 8 + 4 * count]), ">u4").astype(np.int64)
    stts = _table(moov, boxes.get(b"stts"), "II")
    deltas = np.repeat(stts[:, 1], stts[:, 0])
    ctts = _table(moov, boxes.get(b"ctts"), "Ii")  # signed offsets, as FFmpeg reads version 0 too
    offsets = np.repeat(ctts[:, 1], ctts[:, 0]) if len(ctts) else np.zeros(count, np.int64)
    if len(sizes) != count or len(deltas) != count or len(offsets) != count or (sizes == 0).any():
        return None
    dts = np.concatenate([[0], np.cumsum(deltas)[:-1]]) if count else np.empty(0, np.int64)
    stamps = dts + offsets - edit
    if (stamps < 0).any():  # samples before the edit: FFmpeg drops or flags them; leave that to the demuxer
        return None
    stss = boxes.get(b"stss")
    keys = _table(moov, stss, "I")[:, 0] - 1 if stss is not None else np.arange(count)
    chunks = _table(moov, boxes.get(b"stco"), "I") if b"stco" in boxes else _table(moov, boxes[b"co64"], "Q")
    positions = _positions(_table(moov, boxes.get(b"stsc"), "III"), chunks[:, 0], sizes)
    if positions is None:
        return None
    return TrackPackets(stamps.astype(np.int64), keys.astype(np.int64), positions, sizes)


def _positions(stsc: np.ndarray, chunk_offsets: np.ndarray, sizes: np.ndarray) -> np.ndarray | None:
    """Each sample's byte offset: chunk after chunk (stsc: first chunk, samples per chunk, from 1), the samples of a
    chunk end to end from its offset."""
    if not len(stsc):
        return None
    firsts = stsc[:, 0] - 1
    lasts = np.append(firsts[1:], len(chunk_offsets))
    per_chunk = np.repeat(stsc[:, 1], np.maximum(lasts - firsts, 0))
    if len(per_chunk) != len(chunk_offsets) or per_chunk.sum() < len(sizes):
        return None
    chunk_of = np.repeat(np.arange(len(chunk_offsets)), per_chunk)[: len(sizes)]
    starts = np.concatenate([[0], np.cumsum(per_chunk)[:-1]])
    cumulative = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within = cumulative - cumulative[starts[chunk_of]]
    return (chunk_offsets[chunk_of] + within).astype(np.int64)
