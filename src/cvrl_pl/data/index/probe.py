"""Probing one video file with PyAV: its frame count (counted packets, never guessed from the duration), fps,
codec, size and stream format (what decoder routing needs), and proof that its first frame decodes; or the reason
it is not usable. Never raises for a bad file, so one corrupt video is a line in the report, not a stopped run."""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import BinaryIO

import av
import av.logging
import numpy as np
from tqdm import tqdm

from cvrl_pl.data.index.mp4_header import TrackPackets, track_packets
from cvrl_pl.data.index.records import VideoInfo
from dali_pipelines import storage
from dali_pipelines.bitstream import mpeg4_pictures, one_picture_shown, starts_afresh
from dali_pipelines.decoders import HIDDEN_FRAMES, NO_FRESH_START

PROBE_BLOCK = 1 << 12  # what a probe's read fetches from object storage: an MP4's header is a few KiB
FIRST_PACKETS = 4  # the packets a decoder may take before it gives the first frame (B-frames), fetched at once

# How much of each file probing decodes: its first frame (fast), or every frame (finds damage anywhere in it).
VERIFY_LEVELS = ("first", "full")
# Demuxers of still images: FFmpeg opens a .jpg as a one-frame "video", which is not what a video dataset means.
IMAGE_FORMATS = re.compile(r"^(image2|.*_pipe)$")


def _first_line(text: str) -> str:
    return (str(text).strip().splitlines() or ["unknown error"])[0].strip()


def _error_text(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's '[Errno N]' prefix and file name suffix."""
    strerror = getattr(exc, "strerror", None)
    return _first_line(strerror if strerror else str(exc) or type(exc).__name__)


def open_video(file: BinaryIO) -> av.container.InputContainer | str:
    """The container of an opened video (storage.open_file), or a reason. FFmpeg's log tells a known but broken
    container from an unknown format."""
    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)  # only around open: logging from decoder threads can deadlock
    av.logging.set_skip_repeated(False)
    try:
        with av.logging.Capture() as logs:
            try:
                return av.open(file, metadata_errors="ignore")
            except av.FFmpegError as exc:
                demuxer_errors = [m for lvl, name, m in logs if lvl <= av.logging.ERROR and name]
                if demuxer_errors:  # a demuxer accepted the file, then failed on it
                    return f"corrupt: {_first_line(demuxer_errors[0])}"
                if isinstance(exc, av.InvalidDataError):  # no demuxer recognised it
                    return "not a video"
                return f"corrupt: {_error_text(exc)}"
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip)


def _count_and_check(
    container: av.container.InputContainer, verify: str, header: TrackPackets | None = None
) -> VideoInfo | str:
    """Count the video packets that carry a frame, read in their headers what keeps the video off NVDEC (the
    first packet no IDR, a packet with a hidden frame: ``stream_faults``), and decode the first frame
    (``verify="first"``) or every frame (``"full"``) to prove the stream decodes. With an MP4's ``header``, and a
    codec whose faults show in its first packet, the packets are counted from the header and only the first
    frame's are read."""
    if IMAGE_FORMATS.match(container.format.name):
        return "not a video"
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        return "not a video"
    stream = streams[0]
    context = stream.codec_context
    context.thread_count = 1  # probes run one per core already
    first = None
    count, faults = 0, 0
    codec, packed = context.codec.canonical_name, False
    shown_checked = codec in ("vp8", "vp9")
    header = header if codec not in ("vp8", "vp9", "mpeg4") else None  # their faults show in every packet
    stamps: list[int] = []  # per counted packet, in decode order: its timestamp
    keys: list[int] = []  # the positions of the keyframe packets among them
    places: list[tuple[int, int]] = []  # per keyframe packet: its byte offset in the file (-1: unknown) and size
    data_end = -1
    for packet in container.demux(stream):
        # Empty packets are flushes; a corrupt one is the cut-off tail of a truncated file, which does not decode.
        if packet.size == 0 or packet.is_corrupt:
            continue
        stamps.append(packet.pts if packet.pts is not None else packet.dts if packet.dts is not None else -1)
        if packet.is_keyframe:
            keys.append(count)
            places.append((packet.pos if packet.pos is not None else -1, packet.size))
        if packet.pos is not None and packet.pos >= 0:
            data_end = max(data_end, packet.pos + packet.size)
        if count == 0 and not starts_afresh(bytes(packet), codec, context.extradata):
            faults |= NO_FRESH_START
        if shown_checked and not one_picture_shown(memoryview(packet), codec):
            faults |= HIDDEN_FRAMES
        packed = packed or (codec == "mpeg4" and mpeg4_pictures(packet) > 1)
        count += 1
        if first is None or verify == "full":
            try:
                frames = context.decode(packet)
            except av.FFmpegError as exc:
                which = "the first frame" if first is None else f"frame {count - 1}"
                return f"corrupt: cannot decode {which}: {_error_text(exc)}"
            if first is None and frames:
                first = frames[0]
        if header is not None and first is not None:
            break  # the header lists every packet
    if header is not None:
        count, stamps, keys = len(header.stamps), header.stamps.tolist(), header.keys.tolist()
        places = [(int(header.positions[k]), int(header.sizes[k])) for k in keys]
        data_end = int((header.positions + header.sizes).max())
    if count == 0:
        return "corrupt: no video frames"
    if verify == "full" and first is not None:
        try:  # the frames a decoder still holds
            context.decode(None)
        except av.FFmpegError as exc:
            return f"corrupt: cannot decode the last frames: {_error_text(exc)}"
    if first is None:  # decoders with a delay give their first frame at the flush
        frames = context.decode(None)
        if not frames:
            return "corrupt: no frame decodes"
        first = frames[0]
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    fmt = first.format
    # DivX's packed B-frames: a keyframe packet also holds the B-picture shown before it, which refers to the GOP
    # before; and the demuxer's timestamps follow the packets, not the pictures. Such a stream is read from its
    # first frame (docs/data_pipeline.md, "What each decoder receives").
    kept = 1 if packed else len(keys)
    keyframes, keyframe_pts, by_display = keyframe_positions(stamps, keys[:kept])
    places = [places[i] for i in by_display]
    return VideoInfo(
        count,
        fps,
        context.codec.canonical_name,
        first.width,
        first.height,
        profile=context.profile or "",
        pix_fmt=fmt.name,
        bit_depth=fmt.components[0].bits,
        chroma=chroma_format(fmt.name),
        keyframes=keyframes,
        keyframe_pts=keyframe_pts,
        stream_faults=faults,
        keyframe_pos=tuple(pos for pos, _ in places),
        keyframe_bytes=tuple(size for _, size in places),
        data_end=data_end,
    )


def keyframe_positions(stamps: list[int], keys: list[int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The display indices and timestamps of the keyframes, from every packet's timestamp in decode order and the
    decode-order positions of the keyframes: display order is timestamp order (B-frames are stored after the frames
    they are shown before). Packets without any timestamp (some AVI files) keep decode order. Third: for each
    keyframe in display order, its place in ``keys``."""
    if not keys:
        return (), (), ()
    order = np.asarray(stamps, np.int64)
    if (order < 0).any():
        order = np.arange(len(stamps))
    display = np.empty(len(order), np.int64)
    display[np.argsort(order, kind="stable")] = np.arange(len(order))
    at = np.asarray(keys)
    by_display = np.argsort(display[at], kind="stable")
    found = tuple(display[at][by_display].tolist()), tuple(np.asarray(stamps, np.int64)[at][by_display].tolist())
    return (*found, tuple(by_display.tolist()))


# (chroma width, chroma height) of a 16 x 16 frame -> the usual name of the subsampling
_SUBSAMPLING = {(16, 16): "4:4:4", (8, 16): "4:2:2", (8, 8): "4:2:0", (4, 16): "4:1:1", (4, 4): "4:1:0"}


def chroma_format(pix_fmt: str) -> str:
    """The chroma subsampling of a pixel format: "4:2:0", "4:2:2", "4:4:4", "4:0:0" (grey), "rgb", ..."""
    fmt = av.VideoFormat(pix_fmt, 16, 16)
    if fmt.is_rgb:
        return "rgb"
    if len([c for c in fmt.components if not c.is_alpha]) < 3:
        return "4:0:0"
    size = (fmt.chroma_width(16), fmt.chroma_height(16))
    return _SUBSAMPLING.get(size, f"{size[0]}x{size[1]} of 16x16")


def probe_video(path: storage.Ref | os.PathLike, verify: str = "first") -> VideoInfo | str:
    """Probe one video (a file, a URL, a shard's member): its VideoInfo, or the reason it is not usable. Never
    raises for a bad video."""
    if verify not in VERIFY_LEVELS:
        raise ValueError(f"verify must be one of {', '.join(VERIFY_LEVELS)}, got {verify!r}")
    path = path if isinstance(path, storage.Member) else os.fspath(path)
    try:
        if storage.stat(path).size == 0:
            return "empty file"
        with storage.open_file(path, block=PROBE_BLOCK) as file:
            return probe_file(file, verify)
    except av.FFmpegError as exc:
        return f"corrupt: {_error_text(exc)}"
    except Exception as exc:  # an unreadable file must become a reason, never stop the indexing
        return f"corrupt: {type(exc).__name__}: {_first_line(str(exc))}"


def probe_file(file: BinaryIO, verify: str = "first") -> VideoInfo | str:
    """What ``probe_video`` finds in an opened video (also a clip in memory); may raise for an unreadable one. An
    MP4 probed at its first frame is counted from its header (mp4_header.py), not by reading every packet."""
    header = _whole_header(file) if verify == "first" else None
    if header is not None and hasattr(file, "prefetch"):  # the first frame's packets, in one round trip
        last = min(len(header.sizes), FIRST_PACKETS) - 1
        file.prefetch([(int(header.positions[0]), int(header.positions[last] + header.sizes[last]))])
    file.seek(0)
    container = open_video(file)
    if isinstance(container, str):
        return container
    with container:
        return _count_and_check(container, verify, header)


def _whole_header(file: BinaryIO) -> TrackPackets | None:
    """The MP4 header's packets, if every packet it lists lies within the file (a cut download is demuxed)."""
    packets = track_packets(file)
    if packets is None or not len(packets.sizes):
        return None
    file.seek(0, 2)
    return packets if int((packets.positions + packets.sizes).max()) <= file.tell() else None


def _probe_counted(path: storage.Ref, verify: str) -> tuple[VideoInfo | str, int]:
    """``probe_video``, and the bytes it read through storage's ranged reads (a shard's member, a URL; 0 for a file
    opened as such)."""
    before = storage.COUNTS["bytes"]
    return probe_video(path, verify), storage.COUNTS["bytes"] - before


def probe_iter(
    paths: list[storage.Ref],
    workers: int | None = None,
    progress: bool = True,
    verify: str = "first",
    *,
    read: Counter | None = None,
) -> Iterator[VideoInfo | str]:
    """``probe_video`` over ``paths``, yielded in order as they finish, from a process pool (spawned: safe from a
    threaded parent); ``read["bytes"]`` counts the bytes the probes read from shard members and URLs."""
    read = Counter() if read is None else read
    probe = functools.partial(_probe_counted, verify=verify)
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths)))
    bar = tqdm(total=len(paths), desc="probing videos", unit="video", disable=not progress, dynamic_ncols=True)
    with bar:
        if workers == 1:
            for path in paths:
                result, count = probe(path)
                read["bytes"] += count
                yield result
                bar.update()
            return
        chunksize = max(1, min(64, len(paths) // (workers * 8)))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for result, count in pool.map(probe, paths, chunksize=chunksize):
                read["bytes"] += count
                yield result
                bar.update()


def probe_all(
    paths: list[storage.Ref], workers: int | None = None, progress: bool = True, verify: str = "first"
) -> list[VideoInfo | str]:
    """``probe_video`` over ``paths``, in order, in a process pool."""
    return list(probe_iter(paths, workers, progress, verify))
