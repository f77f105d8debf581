"""``ucfrep`` layout: the UCF-101 videos that UCFRep annotates with repetitions (SEVERE's UCF-RC task), read from
UCF-101's root as distributed and UCFRep's annotations (``data.annotations``: the folder or
``ucf526_annotations.zip``; data/ucfrep.py reads them). ``data.subset`` is ``train`` (groups g01-g20) or ``val``
(g21-g25).

A video is ``<ClassFolder>/<name>.avi``, the class folder matched without case (the annotations spell
``HandStandPushups``, UCF-101's folder is ``HandstandPushups``), or a copy with another extension of its stem. A
listed video that is not on disk is reported missing by the index. The label is the annotated class, in the sorted
order of the annotations' 23 classes: both subsets have the same classes.
"""

from __future__ import annotations

import os

from cvrl_pl.data.layouts.files import AVI_OR_TRANSCODED, Candidate, Folders, ListSpec, visible
from cvrl_pl.data.ucfrep import SPLITS, read_annotations

SUBSETS = SPLITS  # train and val, as the annotations divide them


def ucfrep_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """The annotated classes and the subset's videos, found under UCF-101's root or reported missing."""
    videos = read_annotations(lists.annotations)
    classes = sorted({v.class_name for v in videos})
    ids = {name: i for i, name in enumerate(classes)}
    entries = sorted(n for n in os.listdir(root) if visible(n)) if os.path.isdir(root) else []
    folder_of = {n.lower(): n for n in entries}
    folders = Folders(root)
    candidates = []
    for video in videos:
        if video.split != lists.subset:
            continue
        rel = f"{folder_of.get(video.class_name.lower(), video.class_name)}/{video.name}.avi"
        candidates.append(Candidate(folders.find([rel], AVI_OR_TRANSCODED) or rel, ids[video.class_name]))
    return classes, candidates
