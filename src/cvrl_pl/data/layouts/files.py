"""What every layout shares: the candidate file record and walking a folder tree."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Candidate:
    """A file the layout lists (it may be missing), with its label and stat; ``reason`` set when already rejected."""

    path: str  # relative to the dataset root, POSIX separators
    label: int  # class id, -1 when unlabelled
    size: int = -1
    mtime_ns: int = -1
    reason: str | None = None


def visible(name: str) -> bool:
    """Hidden files and folders (a leading dot: the index itself, editor files) are never candidates."""
    return not name.startswith(".")


def walk_files(top: str, skip: str | None) -> list[str]:
    """Absolute paths of the visible regular files under ``top``, at any depth, in sorted order."""
    found = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if visible(d))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if visible(name) and path != skip and os.path.isfile(path):
                found.append(path)
    return found


def abspath(root: str, rel: str) -> str:
    """The absolute path of ``rel`` (POSIX, relative to ``root``)."""
    return os.path.join(root, *rel.split("/"))


def relpath(root: str, path: str) -> str:
    """``path`` relative to ``root``, with POSIX separators (as the index stores it)."""
    return Path(os.path.relpath(path, root)).as_posix()
