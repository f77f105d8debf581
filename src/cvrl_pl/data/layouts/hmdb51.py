"""``hmdb51`` layout: HMDB-51 read through its official splits (the ``testTrainMulti_7030_splits`` folder as shipped).

One file per class and split, ``<class>_test_split<N>.txt``; each line is "<video>.avi <tag>" with tag 1 for the
split's training set, 2 for its test set and 0 for neither. Videos are ``ROOT/<class>/<video>.avi``. The classes are
the split files' class names, sorted (label i is the i-th), as mmaction2 numbers them. A copy made by
``python -m cvrl_pl.data.prepare`` (.webm or .mp4) is found too.
"""

from __future__ import annotations

import os
import re

from cvrl_pl.data.layouts.csv_list import add_row, labelled
from cvrl_pl.data.layouts.files import Candidate, Folders, ListSpec, annotation_folder, annotation_lines
from cvrl_pl.errors import DatasetError

SPLIT_FILE = re.compile(r"(.+)_test_split(\d+)\.txt")
TAGS = {"train": "1", "test": "2"}  # tag 0: in neither set of that split
SPLITS = (1, 2, 3)


def split_files(folder: str) -> dict[str, dict[int, str]]:
    """class -> {split number: file name} of the split files in ``folder``."""
    files: dict[str, dict[int, str]] = {}
    for name in sorted(os.listdir(folder)):
        m = SPLIT_FILE.fullmatch(name)
        if m:
            files.setdefault(m[1], {})[int(m[2])] = name
    return files


def is_hmdb51_folder(folder: str) -> bool:
    """Whether ``folder`` holds HMDB-51 split files."""
    return bool(split_files(folder))


def hmdb51_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """The classes of the split files and every video tagged for the subset in the split, found or reported
    missing; a class without its file for this split is an error, never a class dropped."""
    folder = annotation_folder(lists.annotations)
    files = split_files(folder)
    if not files:
        raise DatasetError(f"{folder}: no HMDB-51 split files (<class>_test_split<N>.txt)")
    classes = sorted(files)
    missing = [f"{c}_test_split{lists.split}.txt" for c in classes if lists.split not in files[c]]
    if missing:
        raise DatasetError(f"{folder}: split {lists.split} lacks the file of {len(missing)} classes: {missing[:5]}")
    folders, found = Folders(root), {}
    for name in classes:
        path = os.path.join(folder, files[name][lists.split])
        for line, text in annotation_lines(path):
            fields = text.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2") or "/" in fields[0] or "\\" in fields[0]:
                raise DatasetError(f"{path}, line {line}: expected '<video>.avi <0|1|2>', got {text!r}")
            if fields[1] == TAGS[lists.subset]:
                rel = f"{name}/{fields[0]}"
                add_row(found, folders.find([rel]) or rel, name, csv=path, line=line)
    ids = {name: i for i, name in enumerate(classes)}
    return classes, labelled(found, ids)
