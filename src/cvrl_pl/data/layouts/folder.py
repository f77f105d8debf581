"""``folder`` layout: ``root/<class>/<video>``; classes are the sorted sub-folders, videos at any depth below. A
file at the root is in no class: a video there is rejected, anything else (a README.txt, a manifest.json) ignored
with one log line that names it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache

from cvrl_pl.data.layouts.files import (
    Candidate,
    ListSpec,
    has_video_extension,
    is_index,
    relpath,
    some_names,
    visible,
    walk_files,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RootEntries:
    """The visible entries of a dataset root, each kind sorted by name: folders, videos (by extension), other files."""

    folders: list[str]
    videos: list[str]
    others: list[str]


def root_entries(root: str, skip: str | None) -> RootEntries:
    """What is directly in ``root`` besides hidden entries and ``skip`` (the index file): what ``auto`` recognises
    a layout from, and where the folder layout finds its classes."""
    entries = (e for e in os.scandir(root) if visible(e.name) and not is_index(e.path, skip))
    entries = sorted(entries, key=lambda e: e.name)
    files = [e.name for e in entries if e.is_file()]
    return RootEntries(
        folders=[e.name for e in entries if e.is_dir()],
        videos=[n for n in files if has_video_extension(n)],
        others=[n for n in files if not has_video_extension(n)],
    )


def folder_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """Classes and files of ``root/<class>/...``; a video directly in root has no class and is rejected."""
    entries = root_entries(root, skip)
    if entries.others:
        log_ignored(root, tuple(entries.others))
    found = [Candidate(name, -1, reason="not in a class folder") for name in entries.videos]
    for label, name in enumerate(entries.folders):
        found += [Candidate(relpath(root, p), label) for p in walk_files(os.path.join(root, name), skip)]
    return entries.folders, found


@cache  # once per process and root: a run lists a split again for each of its readers
def log_ignored(root: str, names: tuple[str, ...]) -> None:
    """Warn once that the files ``names`` beside the class folders of ``root`` are not videos and are left out."""
    log.warning("%s: ignored %d file(s) at the root that are not videos: %s", root, len(names), some_names(names))
