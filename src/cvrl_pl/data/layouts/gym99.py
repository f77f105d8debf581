"""``gym99``, ``finegym_fx_s1`` and ``finegym_ub_s1`` layouts: FineGym's Gym99 element classes, and the two sets
of them that the SEVERE benchmark evaluates (FX-S1: Gym99 labels 6-16; UB-S1: labels 74-88), read through the
Gym99 lists as SEVERE ships them.

``gym99_train.txt`` and ``gym99_val.txt`` list one clip a line, ``<clip>.avi <label>``, labels 0-98, without a
class-name file. Clips lie in one flat folder, the root; each is found under its listed name or with another
extension of its stem (``.avi``, as SEVERE converts them, or a copy made by ``python -m cvrl_pl.data.prepare``).
A class is named by its Gym99 label, three digits ("006"), so that names sort in label order; a set keeps its
classes' Gym99 names and labels them from 0 in that order. Clips of classes outside a set are left out.
"""

from __future__ import annotations

import os

from cvrl_pl.data.layouts.csv_list import add_row, clean_relpath, labelled
from cvrl_pl.data.layouts.files import (
    AVI_OR_TRANSCODED,
    Candidate,
    Folders,
    ListSpec,
    annotation_folder,
    annotation_lines,
)
from cvrl_pl.errors import DatasetError

SUBSET_FILES = {"train": "gym99_train.txt", "val": "gym99_val.txt"}
SPLITS = (1,)  # one official split
NUM_CLASSES = 99
FX_S1 = range(6, 17)  # SEVERE's floor-exercise set: 11 classes
UB_S1 = range(74, 89)  # SEVERE's uneven-bars set: 15 classes


def is_gym99_folder(folder: str) -> bool:
    """Whether ``folder`` holds the Gym99 lists."""
    return os.path.isfile(os.path.join(folder, SUBSET_FILES["train"]))


def class_name(label: int) -> str:
    """A Gym99 class's name: its label as three digits, so that names sort as labels do."""
    return f"{label:03d}"


def gym_candidates(
    root: str, lists: ListSpec, skip: str | None, *, labels: range = range(NUM_CLASSES)
) -> tuple[list[str], list[Candidate]]:
    """The classes ``labels`` of Gym99 and every clip of theirs in the train or val list, found or reported
    missing; clips of other classes are left out."""
    path = os.path.join(annotation_folder(lists.annotations), SUBSET_FILES[lists.subset])
    classes = [class_name(label) for label in labels]
    folders, found = Folders(root), {}
    for line, text in annotation_lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[1].isdigit() or int(fields[1]) >= NUM_CLASSES:
            raise DatasetError(f"{path}, line {line}: expected '<clip>.avi <label 0-{NUM_CLASSES - 1}>', got {text!r}")
        label = int(fields[1])
        if label in labels:
            rel = clean_relpath(path, line, fields[0])
            add_row(found, folders.find([rel], AVI_OR_TRANSCODED) or rel, class_name(label), csv=path, line=line)
    return classes, labelled(found, {name: i for i, name in enumerate(classes)})
