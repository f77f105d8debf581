"""``ucf101`` layout: UCF-101 read through its official split lists (the ``ucfTrainTestlist`` folder as shipped).

``classInd.txt`` numbers the 101 classes from 1 ("1 ApplyEyeMakeup"). ``trainlist0N.txt`` names a video and its
class number ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"), ``testlist0N.txt`` the video only. Videos are
``ROOT/<Class>/v_<Class>_gXX_cYY.avi``. A video's label is its class FOLDER's number in classInd, as in mmaction2's
list parser: file names are no guide (the folder ``HandstandPushups`` holds ``v_HandStandPushups_*.avi``). The
lists have Windows line endings. A copy made by ``python -m cvrl_pl.data.prepare`` (.webm or .mp4) is found too.
"""

from __future__ import annotations

import os

from cvrl_pl.data.layouts.csv_list import add_row, clean_relpath, labelled
from cvrl_pl.data.layouts.files import Candidate, Folders, ListSpec, annotation_folder, annotation_lines
from cvrl_pl.errors import DatasetError

CLASS_INDEX = "classInd.txt"
LIST_PREFIX = {"train": "trainlist", "test": "testlist"}  # subset -> list file stem, then the split as 01..03
SPLITS = (1, 2, 3)


def is_ucf101_folder(folder: str) -> bool:
    """Whether ``folder`` holds the UCF-101 lists."""
    return os.path.isfile(os.path.join(folder, CLASS_INDEX))


def class_index(path: str) -> list[str]:
    """The class names of ``classInd.txt`` in number order (label i is number i + 1)."""
    names: dict[int, str] = {}
    for line, text in annotation_lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise DatasetError(f"{path}, line {line}: expected '<number> <class>', got {text!r}")
        number, name = int(fields[0]), fields[1]
        if number in names or name in names.values():
            raise DatasetError(f"{path}, line {line}: class number {number} or name '{name}' is listed twice")
        names[number] = name
    if sorted(names) != list(range(1, len(names) + 1)):
        raise DatasetError(f"{path}: class numbers must run from 1 to the class count, got {sorted(names)}")
    return [names[n] for n in range(1, len(names) + 1)]


def ucf101_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """The 101 classes and every video of the split's train or test list, found or reported missing."""
    folder = annotation_folder(lists.annotations)
    index_file = os.path.join(folder, CLASS_INDEX)
    classes = class_index(index_file)
    ids = {name: i for i, name in enumerate(classes)}
    path = os.path.join(folder, f"{LIST_PREFIX[lists.subset]}{lists.split:02d}.txt")
    folders, found = Folders(root), {}
    for line, text in annotation_lines(path):
        fields = text.split()
        if len(fields) not in (1, 2):
            raise DatasetError(f"{path}, line {line}: expected '<Class>/<video>.avi [<class number>]', got {text!r}")
        rel = clean_relpath(path, line, fields[0])
        name = rel.split("/")[0] if "/" in rel else None
        if name not in ids:
            raise DatasetError(f"{path}, line {line}: class folder '{name}' of {rel} is not in {index_file}")
        if len(fields) == 2 and fields[1] != str(ids[name] + 1):
            raise DatasetError(
                f"{path}, line {line}: class number {fields[1]} of {rel}, but {index_file} numbers '{name}' "
                f"{ids[name] + 1}"
            )
        add_row(found, folders.find([rel]) or rel, name, csv=path, line=line)
    return classes, labelled(found, ids)
