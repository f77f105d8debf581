"""Where a video's bytes are: the one module that stats, opens or reads a video by its reference.

A reference is a string. Today it is a local path; a member of a tar shard and a URL are the next kinds, and they
are added here and nowhere else: probing, the sources, the decoders' error reports and the tools all ask this module,
so none of them tests what kind of reference it holds (tests/test_storage_seam.py checks that no other module opens,
stats or reads a video by path). Plain Python: no decoder, no NumPy.
"""

from __future__ import annotations

import os
import stat as statlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class Stat:
    """What indexing records of a video's file, and what the sources check again before reading it."""

    size: int  # bytes
    mtime_ns: int
    is_file: bool  # a regular file, not a folder, device or socket


def stat(ref: str) -> Stat:
    """The video's size, mtime and kind; OSError (FileNotFoundError, PermissionError, ...) when it is unreachable."""
    st = os.stat(ref)
    return Stat(st.st_size, st.st_mtime_ns, statlib.S_ISREG(st.st_mode))


def open_file(ref: str) -> BinaryIO:
    """The video as a seekable binary file object (close it, or use it in a ``with``). Its ``name`` is the
    reference, so FFmpeg still takes the file name's extension as a hint when it guesses the container."""
    return open(ref, "rb")  # noqa: SIM115 (the caller closes it)


@contextmanager
def opened(video: str | BinaryIO) -> Iterator[BinaryIO]:
    """A reference opened for the block (and closed after it), or a file object already open, as it is."""
    if not isinstance(video, str):
        yield video
        return
    with open_file(video) as file:
        yield file


def read(ref: str, *, offset: int = 0, length: int | None = None) -> bytes:
    """``length`` bytes of the video from ``offset`` (None: to its end); OSError if the video ends before them."""
    with open_file(ref) as file:
        file.seek(offset)
        data = file.read(-1 if length is None else length)
    if length is not None and len(data) != length:
        raise OSError(f"{ref}: {length} bytes asked for at offset {offset}, the file holds {len(data)} there")
    return data


def is_folder(ref: str) -> bool:
    """Whether a dataset root exists as a folder."""
    return os.path.isdir(ref)
