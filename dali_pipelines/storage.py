"""Where a video's bytes are: the one module that stats, opens, lists or reads a video by its reference.

A reference is a local path, a URL that fsspec reads (``s3://bucket/a.mp4``, ``https://host/a.mp4``; gs://, hf://,
az:// through fsspec's plugins), or a ``Member`` of a tar shard at either: the member's name, the offset of its data
in the shard (the tar's own ``TarInfo.offset_data``) and its size. Probing, the sources, the failure reports and the
tools all ask this module, so none of them tests what kind of reference it holds (tests/test_storage_seam.py checks
that no other module opens, stats or reads a video by path).

Remote bytes come in ranged GETs. ``open_file`` gives a file object over them that fetches a block where its reader
goes (PyAV's demuxer then asks only for the ranges it needs: header, index, packets) and serves ranges fetched ahead
(``ranges=``, all in flight at once: an object store's first byte takes tens of milliseconds). The clients, their
options and the retries of transient errors are dali_pipelines.remote's. Plain Python: no decoder, no NumPy.
"""

from __future__ import annotations

import io
import os
import stat as statlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from dali_pipelines.remote import COUNTS, filesystem, mtime_ns, retrying

BLOCK = 1 << 16  # bytes a remote read fetches where nothing was fetched ahead


@dataclass(frozen=True)
class Stat:
    """What indexing records of a video's file, and what the sources check again before reading it."""

    size: int  # bytes
    mtime_ns: int
    is_file: bool  # a regular file (or an object, or a member), not a folder, device or socket


@dataclass(frozen=True)
class Member:
    """A video stored in a tar shard (a local path or URL): its name there and its data's bytes in the shard."""

    shard: str
    name: str
    offset: int  # of the member's first data byte in the shard: TarInfo.offset_data (PAX headers move it)
    size: int

    def __str__(self) -> str:
        return f"{self.shard}:{self.name}"


Ref = str | Member


def is_url(ref: str) -> bool:
    """Whether a reference (or a dataset root) is a URL read through fsspec rather than a local path."""
    scheme, sep, _ = ref.partition("://")
    return bool(sep) and scheme.isidentifier() and scheme != "file"


def _local(ref: str) -> str:
    return ref.partition("://")[2] if ref.startswith("file://") else ref


def join(root: str, relative: str) -> str:
    """``relative`` (POSIX) under ``root``, a folder or a URL prefix."""
    if is_url(root):
        return f"{root.rstrip('/')}/{relative}"
    return os.path.join(_local(root), *relative.split("/"))


def absolute(ref: str) -> str:
    """A local path made absolute; a URL as it is (its trailing slash dropped)."""
    return ref.rstrip("/") if is_url(ref) else os.path.abspath(_local(ref))


def _fetch(ref: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """The bytes [start, end) of each range of the file ``ref``, all ranges of a remote file in flight together."""
    if not ranges:
        return []
    COUNTS["requests"] += len(ranges)
    COUNTS["rounds"] += 1  # round trips: the ranges of one call are in flight together
    if not is_url(ref):
        fd = os.open(_local(ref), os.O_RDONLY)
        try:
            out = [os.pread(fd, end - start, start) for start, end in ranges]
        finally:
            os.close(fd)
    else:
        fs = filesystem(ref)
        starts, ends = [a for a, _ in ranges], [b for _, b in ranges]
        if len(ranges) == 1:
            out = [retrying(ref, lambda: fs.cat_file(ref, start=starts[0], end=ends[0]))]
        else:
            out = retrying(ref, lambda: fs.cat_ranges([ref] * len(ranges), starts, ends, on_error="raise"))
    for (start, end), data in zip(ranges, out, strict=True):
        if len(data) != end - start:
            raise OSError(f"{ref}: {end - start} bytes asked for at offset {start}, it holds {len(data)} there")
    COUNTS["bytes"] += sum(len(d) for d in out)
    return out


# ------------------------------------------------------------------------------------------------- the public calls


def stat(ref: Ref) -> Stat:
    """The video's size, mtime and kind (a member: its own size and its tar header's mtime, which were indexed);
    OSError (FileNotFoundError, PermissionError, ...) when it is unreachable."""
    if isinstance(ref, Member):
        shard = _shard_stat(ref.shard)
        if ref.offset + ref.size > shard.size:
            raise OSError(f"{ref}: the member ends at byte {ref.offset + ref.size}, the shard holds {shard.size}")
        return Stat(ref.size, shard.mtime_ns, True)
    if not is_url(ref):
        st = os.stat(_local(ref))
        return Stat(st.st_size, st.st_mtime_ns, statlib.S_ISREG(st.st_mode))
    info = retrying(ref, lambda: filesystem(ref).info(ref))
    return Stat(int(info.get("size") or 0), mtime_ns(info), info.get("type", "file") == "file")


def gaps(ranges: Sequence[tuple[int, int]], covered: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``ranges`` ([start, end), merged where they overlap or touch) outside ``covered``, sorted."""
    merged: list[list[int]] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out = []
    for a, b in merged:
        for c, d in sorted(covered):
            if d <= a or c >= b:
                continue
            if c > a:
                out.append((a, c))
            a = max(a, d)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return out


SHARD_STAT_SECONDS = 300.0  # how long a process trusts a remote shard's stat (a request saved per sample)
_SHARD_STATS: dict[tuple[int, str], tuple[float, Stat]] = {}


def _shard_stat(shard: str) -> Stat:
    """A shard's stat; a remote one's from this process's cache while it is fresh."""
    if not is_url(shard):
        return stat(shard)
    key, now = (os.getpid(), shard), time.monotonic()
    cached = _SHARD_STATS.get(key)
    if cached is None or now - cached[0] > SHARD_STAT_SECONDS:
        cached = _SHARD_STATS[key] = (now, stat(shard))
    return cached[1]


class RangeFile(io.RawIOBase):
    """A read-only, seekable file object over bytes [start, start + size) of a file, fetched where it is read
    (``block`` bytes at a time; 0: as many as asked) or ahead (``prefetch``); reads never cross what was fetched,
    so a reader that asks for 32 KiB inside a fetched range of 3 KiB gets 3 KiB (a short read, which every reader
    accepts)."""

    # The buffer FFmpeg should read this file with: its I/O layer reads through a forward seek shorter than its
    # buffer plus 32 KiB instead of seeking, and every byte read through is a byte fetched (PyAV's default: 32 KiB).
    avio_buffer = 4096

    def __init__(self, ref: str, *, start: int = 0, size: int, name: str, block: int):
        super().__init__()
        self.ref, self.start, self.size, self.name, self.block = ref, start, size, name, block
        self.pos = 0
        self.fetched: list[tuple[int, bytes]] = []  # (offset within the file object, bytes), sorted by offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Fetch the parts of ``ranges`` ([start, end) within this file object) not fetched yet, all at once; nothing
        where reads are exact (``block`` 0: a local file, where a round trip costs nothing)."""
        if self.block:
            self._fill(ranges)

    def _fill(self, ranges: Sequence[tuple[int, int]]) -> None:
        covered = [(have, have + len(data)) for have, data in self.fetched]
        todo = gaps([(max(0, a), min(self.size, b)) for a, b in ranges], covered)
        for (a, _), data in zip(
            todo, _fetch(self.ref, [(self.start + a, self.start + b) for a, b in todo]), strict=True
        ):
            self.fetched.append((a, data))
        self.fetched.sort(key=lambda item: item[0])

    def readinto(self, buffer) -> int:
        if self.pos >= self.size or not len(buffer):
            return 0
        found = self._at(self.pos)
        if found is None:  # a block (not the reader's whole buffer: FFmpeg asks 32 KiB) up to what is held
            later = [have for have, _ in self.fetched if have > self.pos]
            end = min(self.size, self.pos + (self.block or len(buffer)), *later)
            self._fill([(self.pos, end)])
            found = self._at(self.pos)
        have, data = found
        chunk = data[self.pos - have : self.pos - have + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def _at(self, pos: int) -> tuple[int, bytes] | None:
        for have, data in self.fetched:
            if have <= pos < have + len(data):
                return have, data
        return None


def open_file(ref: Ref, *, ranges: Sequence[tuple[int, int]] = (), block: int = BLOCK) -> BinaryIO:
    """The video as a seekable binary file object (close it, or use it in a ``with``). Its ``name`` is the
    reference, so FFmpeg still takes the name's extension as a hint when it guesses the container. ``ranges``:
    byte ranges [start, end) of the video that will be read, fetched together now where that saves round trips;
    ``block``: what a remote read fetches where nothing was (a probe, which reads little, asks for less)."""
    COUNTS["opened"] += 1
    if isinstance(ref, Member):
        block = block if is_url(ref.shard) else 0  # a local member's reads are exact
        file = RangeFile(ref.shard, start=ref.offset, size=ref.size, name=ref.name, block=block)
    elif not is_url(ref):
        return open(_local(ref), "rb")  # noqa: SIM115 (the caller closes it)
    else:
        file = RangeFile(ref, size=stat(ref).size, name=ref, block=block)
    file.prefetch(ranges)
    return file  # type: ignore[return-value]


@contextmanager
def opened(video: Ref | BinaryIO, *, ranges: Sequence[tuple[int, int]] = ()) -> Iterator[BinaryIO]:
    """A reference opened for the block (and closed after it), or a file object already open, as it is."""
    if not isinstance(video, str | Member):
        yield video
        return
    with open_file(video, ranges=ranges) as file:
        yield file


def read(ref: Ref, *, offset: int = 0, length: int | None = None) -> bytes:
    """``length`` bytes of the video from ``offset`` (None: to its end); OSError if the video ends before them."""
    if isinstance(ref, Member):
        end = ref.size if length is None else offset + length
        if end > ref.size:
            raise OSError(f"{ref}: {length} bytes asked for at offset {offset}, the member holds {ref.size}")
        return _fetch(ref.shard, [(ref.offset + offset, ref.offset + end)])[0]
    if length is None:
        length = stat(ref).size - offset
    return _fetch(ref, [(offset, offset + length)])[0]


def is_folder(ref: str) -> bool:
    """Whether a dataset root exists as a folder (a URL: as a prefix holding something, or a bucket)."""
    if not is_url(ref):
        return os.path.isdir(_local(ref))
    fs = filesystem(ref)
    return bool(retrying(ref, lambda: fs.isdir(ref)))


def list_folder(ref: str) -> list[tuple[str, Stat]]:
    """The entries right under a folder or URL prefix, by name, with their stat (a folder: is_file False)."""
    if not is_url(ref):
        out = []
        with os.scandir(_local(ref)) as entries:
            for e in entries:
                st = e.stat()
                out.append((e.name, Stat(st.st_size, st.st_mtime_ns, statlib.S_ISREG(st.st_mode))))
        return sorted(out)
    fs = filesystem(ref)
    found = retrying(ref, lambda: fs.ls(ref, detail=True))
    out = []
    for info in found:
        name = info["name"].rstrip("/").rpartition("/")[2]
        out.append((name, Stat(int(info.get("size") or 0), mtime_ns(info), info.get("type") == "file")))
    return sorted(out)
