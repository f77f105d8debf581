"""What a start compares to trust a saved index without listing the dataset: the names at the dataset root's top
level, the modification time of every folder that held a candidate file, and the size and time of the list files
(CSV, official split lists). Adding, removing or renaming a file changes its folder's time; none of this is per file
(but for videos kept at the root itself, whose names are the root's listing). Tar shards (layout webdataset) are
compared by name, size and time, all from one listing of their folder or bucket prefix (a request per thousand
shards on S3), never a request per shard.

A file changed in place, or gone, is not seen here: it is found when it is read, and reported like any bad video.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME
from cvrl_pl.data.layouts.files import ListSpec
from cvrl_pl.data.layouts.webdataset import LISTING_THREADS, shards_of
from dali_pipelines import storage

REINDEX = ("auto", "always", "never")  # data.reindex: when a start lists the dataset again


def _digest(names: Iterable[str]) -> list[int]:
    """[count, sum of 64-bit digests] of ``names``: order-free, so they are never held in memory together."""
    count, total = 0, 0
    for name in names:
        digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).digest()
        count, total = count + 1, (total + int.from_bytes(digest, "little")) % (1 << 64)
    return [count, total]


def _names_digest(root: str) -> list[int]:
    """The digest of the root's entries but our own index folders (an index, a build, a sibling split's index:
    our own writes change nothing listed)."""
    with os.scandir(root) as entries:
        return _digest(e.name for e in entries if not e.name.startswith(DEFAULT_INDEX_NAME))


def _shards_digest(root: str) -> list[int]:
    """The digest of the shards' names, sizes and times, from one listing of their folder (or URL prefix); where
    that cannot be listed (a web server), from each shard's stat, many at a time."""
    folder, names = shards_of(root)
    wanted = set(names)
    try:
        found = [(name, st) for name, st in storage.list_folder(folder) if name in wanted]
    except (OSError, NotImplementedError):
        with ThreadPoolExecutor(LISTING_THREADS) as pool:
            found = list(zip(names, pool.map(_stat, (storage.join(folder, name) for name in names)), strict=True))
        found = [(name, storage.Stat(size, mtime, True)) for name, (size, mtime) in found if size >= 0]
    return _digest(f"{name}\0{st.size}\0{st.mtime_ns}" for name, st in found)


def _list_files(lists: ListSpec) -> list[str]:
    """The files the dataset's lists are read from: the CSV, or every file of the annotation folder (or the file)."""
    files = [lists.csv] if lists.csv else []
    if lists.annotations and os.path.isdir(lists.annotations):
        with os.scandir(lists.annotations) as entries:
            files += sorted(e.path for e in entries if e.is_file())
    elif lists.annotations:
        files.append(lists.annotations)
    return files


def _stat(path: str) -> list[int]:
    """A path's [size, modification time in ns], [-1, -1] if it is gone."""
    try:
        found = storage.stat(path)
    except OSError:
        return [-1, -1]
    return [found.size, found.mtime_ns]


def folders_of(paths: Iterable[str]) -> list[str]:
    """The folders (relative to the root, "" for the root itself) holding ``paths``, sorted."""
    return sorted({path.rpartition("/")[0] for path in paths})


def listing_signature(root: str, lists: ListSpec, folders: list[str], *, shards: bool = False) -> dict:
    """What ``listing_change`` compares: the root's top-level names, each folder's time (``folders``: relative to
    the root, the root itself left to the names), the list files' size and time; with ``shards`` (the webdataset
    layout) the shards' names, sizes and times instead of the names and folders."""
    files = [[path, *_stat(path)] for path in _list_files(lists)]
    if shards:
        return {"names": _shards_digest(root), "folders": [], "lists": files, "shards": True}
    stamps = [[folder, _stat(os.path.join(root, folder))[1]] for folder in folders if folder]
    return {"names": _names_digest(root), "folders": stamps, "lists": files}


def listing_change(saved: dict | None, root: str, lists: ListSpec) -> str:
    """Why the dataset's listing may differ from the one an index recorded (``saved``: its ``listing_signature``),
    or "" if nothing that lists it has changed."""
    if not saved:
        return "the index recorded no listing (built before data.reindex=auto)"
    folders = [folder for folder, _ in saved["folders"]]
    now = listing_signature(root, lists, folders, shards=saved.get("shards", False))
    if now["names"] != saved["names"]:
        what = "a shard was added, removed or rewritten in" if saved.get("shards") else "the entries at the top of"
        return f"{what} {root} changed"
    moved = [folder for (folder, was), (_, is_) in zip(saved["folders"], now["folders"], strict=True) if was != is_]
    if moved:
        more = f" and {len(moved) - 1} more" if len(moved) > 1 else ""
        return f"folder {moved[0]}{more} changed (a file added, removed or renamed)"
    if now["lists"] != saved["lists"]:
        return "the dataset's list files changed"
    return ""
