"""Tar shards as webdataset and video2dataset write them: the names a brace pattern stands for, and the members of
a shard read from its headers alone (through dali_pipelines.storage, so a shard on object storage costs a few
small ranged reads per sample, never its data)."""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass

from dali_pipelines import storage

# Bytes a read of a tar's headers fetches: a video2dataset sample's headers and small members (PAX headers of 1 KiB
# each, the json, the txt, the next sample's) take about 6 KiB.
BLOCK = 1 << 13


@dataclass(frozen=True)
class TarEntry:
    """A regular file in a tar shard, as its headers say."""

    name: str
    offset: int  # of its data in the shard
    size: int
    complete: bool  # all its data is in the shard (False: a tar cut short)


def tar_members(shard: str) -> tuple[list[TarEntry], str]:
    """The regular files of a tar shard in stored order, from its headers only (the reader skips every member's
    data), and what damage stopped the reading ("" for none: a tar cut short, a garbled header), with the members
    before it kept; OSError when the shard is unreachable."""
    size = storage.stat(shard).size
    entries, damage, end = [], "", -1
    # Buffered: tarfile takes a short read of a header for a truncated tar, and a RangeFile reads short.
    with io.BufferedReader(storage.RangeFile(shard, size=size, name=shard, block=BLOCK), BLOCK) as file:
        try:
            with tarfile.open(fileobj=file, mode="r:") as tar:
                for info in tar:
                    if info.isfile():
                        complete = info.offset_data + info.size <= size
                        entries.append(TarEntry(info.name, info.offset_data, info.size, complete))
                end = tar.offset  # past the last member: a whole tar has its two zero blocks there
        except tarfile.TarError as exc:
            damage = f"{type(exc).__name__}: {exc}"
    if entries and not entries[-1].complete:
        damage = f"cut short: {entries[-1].name} ends at byte {entries[-1].offset + entries[-1].size} of {size}"
    elif not damage and (end + 1024 > size or any(storage.read(shard, offset=end, length=1024))):
        damage = f"cut short: no end-of-archive blocks after byte {end} of {size}"  # tarfile takes EOF for an end
    return entries, damage


_BRACES = re.compile(r"\{([^{}]*)\}")


def expand_braces(pattern: str) -> list[str]:
    """The names a brace pattern stands for, in order: ``{00000..00002}.tar`` (zero-padded ranges) and
    ``{a,b}`` lists, any number of them (webdataset's shard notation)."""
    found = _BRACES.search(pattern)
    if found is None:
        return [pattern]
    inside, head, tail = found.group(1), pattern[: found.start()], pattern[found.end() :]
    if ".." in inside:
        first, last = inside.split("..", 1)
        if not (first.isdigit() and last.isdigit()):
            raise ValueError(f"{pattern}: a brace range takes digits, {{00000..10741}}, not {{{inside}}}")
        width = len(first) if first.startswith("0") else 0
        items = [str(i).zfill(width) for i in range(int(first), int(last) + 1)]
    else:
        items = inside.split(",")
    return [head + item + rest for item in items for rest in expand_braces(tail)]
