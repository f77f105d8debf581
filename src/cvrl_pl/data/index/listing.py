"""What a start compares to trust a saved index without listing the dataset: the names at the dataset root's top
level, the modification time of every folder that held a candidate file, and the size and time of the list files
(CSV, official split lists). Adding, removing or renaming a file changes its folder's time; none of this is per file
(but for videos kept at the root itself, whose names are the root's listing).

A file changed in place, or gone, is not seen here: it is found when it is read, and reported like any bad video.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME
from cvrl_pl.data.layouts.files import ListSpec
from dali_pipelines import storage

REINDEX = ("auto", "always", "never")  # data.reindex: when a start lists the dataset again


def _names_digest(root: str) -> list[int]:
    """[count, sum of 64-bit digests] of the root's entries but our own index folders: order-free, so the names are
    never held in memory together."""
    count, total = 0, 0
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith(DEFAULT_INDEX_NAME):
                continue  # our own writes (an index, a build, a sibling split's index) change nothing listed
            digest = hashlib.blake2b(entry.name.encode("utf-8", "surrogateescape"), digest_size=8).digest()
            count, total = count + 1, (total + int.from_bytes(digest, "little")) % (1 << 64)
    return [count, total]


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


def listing_signature(root: str, lists: ListSpec, folders: list[str]) -> dict:
    """What ``listing_change`` compares: the root's top-level names, each folder's time (``folders``: relative to
    the root, the root itself left to the names), the list files' size and time."""
    stamps = [[folder, _stat(os.path.join(root, folder))[1]] for folder in folders if folder]
    files = [[path, *_stat(path)] for path in _list_files(lists)]
    return {"names": _names_digest(root), "folders": stamps, "lists": files}


def listing_change(saved: dict | None, root: str, lists: ListSpec) -> str:
    """Why the dataset's listing may differ from the one an index recorded (``saved``: its ``listing_signature``),
    or "" if nothing that lists it has changed."""
    if not saved:
        return "the index recorded no listing (built before data.reindex=auto)"
    folders = [folder for folder, _ in saved["folders"]]
    now = listing_signature(root, lists, folders)
    if now["names"] != saved["names"]:
        return f"the entries at the top of {root} changed"
    moved = [folder for (folder, was), (_, is_) in zip(saved["folders"], now["folders"], strict=True) if was != is_]
    if moved:
        more = f" and {len(moved) - 1} more" if len(moved) > 1 else ""
        return f"folder {moved[0]}{more} changed (a file added, removed or renamed)"
    if now["lists"] != saved["lists"]:
        return "the dataset's list files changed"
    return ""
