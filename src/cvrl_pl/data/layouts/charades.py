"""``charades`` layout: Charades as distributed, a multi-label dataset.

``Charades_v1_train.csv`` / ``Charades_v1_test.csv`` (columns ``id, subject, scene, quality, relevance, verified,
script, objects, descriptions, actions, length``), ``Charades_v1_classes.txt`` (157 lines like
``c000 Holding some clothes``) and the videos ``<id>.mp4`` in one folder (or a copy made by
``python -m cvrl_pl.data.prepare``). ``actions`` lists a video's actions as ``c092 11.90 21.20;c147 0.00 12.60``
(class, start and end in seconds); it may be empty, and an action may run past the video's end. A video has no
single label: the index labels it -1 and its actions are read again, by video, when a loader is built
(``video_actions``), into the multi-hot targets of dali_pipelines/targets.py.
"""

from __future__ import annotations

import csv
import os
import posixpath
from collections.abc import Sequence

from cvrl_pl.data.layouts.files import Candidate, Folders, ListSpec, annotation_folder, annotation_lines
from cvrl_pl.errors import DatasetError
from dali_pipelines.targets import Action

CLASSES_FILE = "Charades_v1_classes.txt"
SUBSET_FILES = {"train": "Charades_v1_train.csv", "test": "Charades_v1_test.csv"}
SPLITS = (1,)  # one official split


def is_charades_folder(folder: str) -> bool:
    """Whether ``folder`` holds the Charades annotation files."""
    return os.path.isfile(os.path.join(folder, CLASSES_FILE))


def charades_classes(path: str) -> tuple[list[str], list[str]]:
    """(class codes in file order, their names) of ``Charades_v1_classes.txt``; label i is the i-th line."""
    codes, names = [], []
    for line, text in annotation_lines(path):
        code, _, name = text.partition(" ")
        if not (code.startswith("c") and code[1:].isdigit()) or not name.strip():
            raise DatasetError(f"{path}, line {line}: expected 'c<number> <name>', got {text!r}")
        if code in codes:
            raise DatasetError(f"{path}, line {line}: class {code} is listed twice")
        codes.append(code)
        names.append(name.strip())
    return codes, names


def parse_actions(text: str, ids: dict[str, int], *, where: str) -> tuple[Action, ...]:
    """``c092 11.90 21.20;c147 0.00 12.60`` -> ((92's index, 11.9, 21.2), ...); empty text -> ()."""
    actions = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        fields = item.split()
        try:
            code, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise DatasetError(f"{where}: action {item!r} is not '<class> <start> <end>'") from None
        if len(fields) != 3 or code not in ids or end < start:
            raise DatasetError(f"{where}: action {item!r}: unknown class, extra fields or an end before its start")
        actions.append((ids[code], start, end))
    return tuple(actions)


def read_subset(folder: str, subset: str, ids: dict[str, int]) -> dict[str, tuple[Action, ...]]:
    """Video id -> its actions, for every row of the subset's CSV, in file order."""
    path = os.path.join(folder, SUBSET_FILES[subset])
    videos: dict[str, tuple[Action, ...]] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"id", "actions"} - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(
                    f"{path}: no column {', '.join(sorted(missing))} (the header names id, ..., actions, length)"
                )
            for row in reader:
                where = f"{path}, line {reader.line_num}"  # a record's last line (a quoted text may span several)
                vid = (row["id"] or "").strip()
                if not vid or vid in videos:
                    raise DatasetError(f"{where}: " + (f"video id {vid} is listed twice" if vid else "no video id"))
                videos[vid] = parse_actions(row["actions"] or "", ids, where=where)
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return videos


def _lists(lists: ListSpec) -> tuple[list[str], dict[str, tuple[Action, ...]]]:
    """The class codes and the subset's videos' actions of an annotation folder."""
    folder = annotation_folder(lists.annotations)
    codes, _ = charades_classes(os.path.join(folder, CLASSES_FILE))
    return codes, read_subset(folder, lists.subset, {c: i for i, c in enumerate(codes)})


def charades_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """The class codes and every video of the subset, ``<id>.mp4`` under root, found or reported missing; each
    labelled -1 (multi-label: its targets come from ``video_actions``)."""
    codes, videos = _lists(lists)
    folders = Folders(root)
    return codes, [Candidate(folders.find([f"{vid}.mp4"]) or f"{vid}.mp4", -1) for vid in videos]


def video_actions(lists: ListSpec, paths: Sequence[str]) -> list[tuple[Action, ...]]:
    """The actions of each indexed video (``paths`` relative to root: ``<id>.<ext>``), read from the subset's CSV."""
    _, videos = _lists(lists)
    actions = []
    for path in paths:
        vid = posixpath.splitext(posixpath.basename(path))[0]
        if vid not in videos:
            raise DatasetError(
                f"{path} is indexed but {SUBSET_FILES[lists.subset]} has no row '{vid}': the annotations changed "
                "since the index was built; rebuild it (python -m cvrl_pl.data.index)"
            )
        actions.append(videos[vid])
    return actions
