"""``folder`` layout: ``root/<class>/<video>``; classes are the sorted sub-folders, videos at any depth below."""

from __future__ import annotations

import os

from cvrl_pl.data.layouts.files import Candidate, ListSpec, relpath, visible, walk_files


def folder_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """Classes and files of ``root/<class>/...``; a file directly in root has no class and is rejected."""
    entries = sorted((e for e in os.scandir(root) if visible(e.name)), key=lambda e: e.name)
    classes = [e.name for e in entries if e.is_dir()]
    found = [
        Candidate(relpath(root, e.path), -1, reason="not in a class folder")
        for e in entries
        if e.is_file() and e.path != skip
    ]
    for label, name in enumerate(classes):
        found += [Candidate(relpath(root, p), label) for p in walk_files(os.path.join(root, name), skip)]
    return classes, found
