"""Only the packets a sample's frames need, remuxed without decoding into one small in-memory stream.

DALI 2.4's video decoder never seeks: every clip is decoded from frame 0, and every repeated frame index from frame 0
again (docs/data_pipeline.md). So the source hands any decoder only, per wanted frame, the packets from the keyframe
before it up to it (spans that touch merged), with consecutive timestamps, and asks for each frame once; the graph
then puts the frames back in the clips' order, repeats included (``fn.sequence_rearrange``).

Frame numbers are the index's: display order, counted from 0. The index's keyframes (display index and timestamp,
from the demuxer) say where each span starts; the demuxer is sought to that timestamp.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from dali_pipelines import storage
from dali_pipelines.bitstream import mpeg4_pictures, starts_afresh
from dali_pipelines.failures import FrameOutOfRange, RemuxError

# Matroska holds every codec we read (H.264, HEVC, VP8, VP9, AV1, MPEG-4 part 2, MJPEG) and any timestamps.
CONTAINER = "matroska"
BITEXACT = {"fflags": "+bitexact"}  # no random segment id, no muxer version: the same packets give the same bytes
FRAME_TIME = Fraction(1, 25)  # the remuxed stream's frames are consecutive, at 25 fps whatever the source's timing


@dataclass(frozen=True)
class SparseVideo:
    """A sample's video as its decoder gets it."""

    data: bytes  # the remuxed stream
    frames: np.ndarray  # (D,) int32: the distinct wanted frames' indices in that stream, ascending
    order: np.ndarray  # (N,) int32: for each wanted frame, in the order asked, its row among the D decoded frames
    source_bytes: int  # the bytes of the packets kept


def spans(wanted: np.ndarray, keyframes: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) display indices to decode: from the keyframe at or before each wanted frame up to it, merged
    where they overlap or touch."""
    distinct = np.unique(np.asarray(wanted, np.int64))
    keys = np.asarray(keyframes, np.int64)
    if not len(keys) or keys[0] != 0:
        keys = np.concatenate([[0], keys[keys > 0]])  # a stream starts at a decodable frame
    starts = keys[np.searchsorted(keys, distinct, side="right") - 1]
    merged: list[list[int]] = []
    for start, frame in zip(starts.tolist(), distinct.tolist(), strict=True):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], frame)
        else:
            merged.append([start, frame])
    return [(a, b) for a, b in merged]


LEAD = 256  # bytes read ahead of a keyframe's packet: a Matroska cluster's header sits just before its first block
# FFmpeg's I/O layer reads through a forward seek of up to its buffer (storage.RangeFile.avio_buffer, 4 KiB, over
# ranged reads) and its short-seek threshold (32 KiB) rather than seek: byte ranges closer than that are read whole
# anyway, so they are fetched as one.
READ_THROUGH = (4 + 32) << 10
AVIO_BUFFER = 32 << 10  # PyAV's own, for a file on disk


def byte_ranges(
    wanted: np.ndarray,
    keyframes: np.ndarray,
    keyframe_pos: np.ndarray,
    keyframe_bytes: np.ndarray,
    *,
    data_end: int,
    size: int,
) -> list[tuple[int, int]]:
    """The byte ranges [start, end) of a video that ``sparse_video`` reads for frames ``wanted``, from the index:
    the container's header with the first frame's packet (FFmpeg reads it when it opens the file), its tail (after
    the last video packet: an index kept at the end), and per span from its keyframe's packet to the end of the
    next keyframe's packet (the demuxer reads that far to know the span is complete) and one frame more; ranges
    closer than ``READ_THROUGH`` made one. Fetched together, they save a round trip per read on object storage; a
    read outside them is fetched when it comes, so a short estimate costs a request, never a frame. [] where the
    index does not know where the packets lie."""
    keys, pos = np.asarray(keyframes, np.int64), np.asarray(keyframe_pos, np.int64)
    if not len(pos) or (pos < 0).any() or data_end <= 0:
        return []
    opening = int(np.argmin(pos))
    ranges = [(0, int(pos[opening] + keyframe_bytes[opening]))]  # with the first frame, which opening the file reads
    if data_end < size:
        ranges.append((data_end, size))
    for first, last in spans(wanted, keys):
        k = max(0, int(np.searchsorted(keys, first, side="right")) - 1)
        j = int(np.searchsorted(keys, last, side="right"))  # the first keyframe shown after the span
        if j < len(keys):
            frame = (pos[j] - pos[k]) // max(1, keys[j] - keys[k])  # a mean frame of the span's GOPs
            end = int(pos[j] + keyframe_bytes[j] + frame)
        else:
            end = data_end
        ranges.append((max(0, int(pos[k]) - LEAD), min(end, data_end)))
    merged: list[list[int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + READ_THROUGH:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _span_packets(container, stream, first: int, last: int, keyframes: np.ndarray, keyframe_pts: np.ndarray) -> list:
    """The packets (decode order) that decoding display frames ``first``..``last`` needs, starting at the keyframe
    ``first``, with their display indices; leading frames of an open GOP (shown before the keyframe) left out."""
    k = int(np.searchsorted(keyframes, first))
    start_pts = int(keyframe_pts[k])
    after = [(int(d), int(p)) for d, p in zip(keyframes, keyframe_pts, strict=True) if d > last]
    next_key = after[0] if after else None  # the first keyframe shown after the span
    container.seek(start_pts, stream=stream, backward=True, any_frame=False)
    packets, started, past_next = [], False, False
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_corrupt:
            continue
        pts = packet.pts if packet.pts is not None else packet.dts
        if not started:
            if pts != start_pts:
                continue  # the seek landed on an earlier keyframe
            started = True
        if next_key is not None:
            if past_next and pts > next_key[1]:
                break  # every frame shown before the next keyframe has come
            past_next = past_next or pts == next_key[1]
        if pts >= start_pts:
            packets.append((pts, packet))
    if not started:
        raise FrameOutOfRange(f"no keyframe at timestamp {start_pts} (frame {first})")
    # Display indices: the span's frames are every frame shown from its keyframe to the next one, all demuxed.
    shown = sorted(p for p, _ in packets if next_key is None or p < next_key[1])
    display = {p: first + i for i, p in enumerate(shown)}
    if next_key is not None:
        display[next_key[1]] = next_key[0]
    if first + len(shown) - 1 < last and next_key is None:
        raise FrameOutOfRange(f"frame {last} asked for, the stream ends at frame {first + len(shown) - 1}")
    needed = [display[p] <= last for p, _ in packets]
    cut = len(needed) - needed[::-1].index(True)  # up to the last packet (decode order) shown within the span
    packed = stream.codec_context.name == "mpeg4" and mpeg4_pictures(packets[cut - 1][1]) > 1
    if cut < len(packets) and packed:
        cut += 1  # DivX's packed B-frames: the B-picture of the last packet is decoded with the next packet
    return [(display[p], packet) for p, packet in packets[:cut]]


def remux_stream(out, stream):
    """The output stream that takes ``stream``'s packets as they are. ``opaque``: it keeps the input's codec (by
    its id). Without it PyAV looks up an *encoder* named like the input's *decoder*, which fails wherever the two
    names differ (AV1 read by libdav1d: UnknownCodecError 'libdav1d'); remuxing encodes nothing, so it needs no
    encoder at all."""
    return out.add_stream_from_template(stream, opaque=True)


def unpacked(bsf, packet):
    """``packet`` through MPEG-4 part 2's ``mpeg4_unpack_bframes`` filter (``bsf``; None: as it is). DivX's packed
    B-frames put a P- and a B-picture in one packet and a not-coded picture in the next; the filter moves the B into
    the next packet, so that each packet holds one picture, as NVDEC needs (bitstream.py). DALI applies the filter
    itself only to AVI files, and our remux hands it Matroska."""
    if bsf is None:
        return packet
    out = bsf.filter(packet)
    if len(out) != 1:
        raise RemuxError(f"mpeg4_unpack_bframes gave {len(out)} packets for one")
    return out[0]


def sparse_video(
    video: str | BinaryIO,
    wanted: np.ndarray,
    keyframes: np.ndarray,
    keyframe_pts: np.ndarray,
    *,
    fresh_start: bool = False,
    ranges: Sequence[tuple[int, int]] = (),
) -> SparseVideo:
    """The packets of ``video`` (a reference, read through storage.py, or a file object) that frames ``wanted``
    (display indices, any order, repeats allowed) need, remuxed into one Matroska stream whose frames are
    consecutive; FrameOutOfRange if the file does not hold them, RemuxError if writing the packets read fails.
    ``fresh_start`` (for NVDEC): the stream starts where an H.264/HEVC decoder starts afresh, an IDR picture
    (bitstream.starts_afresh), the keyframe before the first span's if that one is an open GOP's. ``ranges``: the
    byte ranges that will be read (``byte_ranges``), fetched together where the video is remote."""
    import av  # imported here: the graphs' modules load without PyAV
    from av.bitstream import BitStreamFilterContext

    wanted = np.asarray(wanted, np.int64)
    keys, stamps = np.asarray(keyframes, np.int64), np.asarray(keyframe_pts, np.int64)
    out_buffer = io.BytesIO()
    with (
        storage.opened(video, ranges=ranges) as file,
        av.open(file, buffer_size=getattr(file, "avio_buffer", AVIO_BUFFER)) as container,
    ):
        stream = container.streams.video[0]
        codec, extradata = stream.codec_context.name, stream.codec_context.extradata
        parts: list[list] = []
        bounds: list[tuple[int, int]] = []
        for first, last in spans(wanted, keys):
            part = _span_packets(container, stream, first, last, keys, stamps)
            while (parts or fresh_start) and not starts_afresh(bytes(part[0][1]), codec, extradata):
                if parts:  # decode it on from the span before
                    first = bounds.pop()[0]
                    parts.pop()
                elif (keys < first).any():  # the first span: from the keyframe before it
                    first = int(keys[keys < first][-1])
                else:  # the stream's first picture is no IDR: routing keeps such a video off NVDEC
                    break
                part = _span_packets(container, stream, first, last, keys, stamps)
            parts.append(part)
            bounds.append((first, last))
        # The remuxed stream shows its frames one tick apart, span after span, in display order.
        order = [sorted(d for d, _ in part) for part in parts]
        ranks = [{d: i for i, d in enumerate(shown)} for shown in order]
        # dts: the decode position, moved back by the deepest reordering, so it never passes the pts.
        delay = max(0, *(j - r[d] for part, r in zip(parts, ranks, strict=True) for j, (d, _) in enumerate(part)))
        try:  # writing packets already read, never decoded: a failure here is the reader's (failures.RemuxError)
            with av.open(out_buffer, "w", format=CONTAINER, container_options=BITEXACT) as out:
                target = remux_stream(out, stream)
                bsf = BitStreamFilterContext("mpeg4_unpack_bframes", stream, target) if codec == "mpeg4" else None
                offset, kept = 0, 0
                for part, rank in zip(parts, ranks, strict=True):
                    if bsf is not None:
                        bsf.flush()  # a B-picture held from the span before belongs to no packet of this one
                    for j, (d, packet) in enumerate(part):
                        packet = unpacked(bsf, packet)
                        packet.stream, packet.time_base = target, FRAME_TIME
                        packet.pts, packet.dts, packet.duration = offset + rank[d], offset + j - delay, 1
                        kept += packet.size
                        out.mux(packet)
                    offset += len(part)
        except Exception as exc:
            raise RemuxError(f"{type(exc).__name__}: {exc}") from exc
    position = {d: i for i, d in enumerate(d for shown in order for d in shown)}
    distinct = np.unique(wanted)
    frames = np.array([position[int(d)] for d in distinct], np.int32)
    return SparseVideo(out_buffer.getvalue(), frames, np.searchsorted(distinct, wanted).astype(np.int32), kept)
