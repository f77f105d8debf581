"""Dataset layouts: which files of a dataset root are videos, and their labels. One module per layout; the
registry ``LAYOUTS`` is the one list of them (the config's ``data.layout`` choices are its names and ``auto``).

A layout maps (root, lists, skip) to (class names, candidate files), where ``lists`` (a ListSpec) says which list
of the dataset to read: a CSV, or the official annotation files with a split and subset. Probing the files is the
index's job (cvrl_pl.data.index); this package only lists them, without opening a video.
"""

from __future__ import annotations

import csv as csvlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from cvrl_pl.data.layouts import charades, gym99, hmdb51, ssv2, ucf101, ucfrep
from cvrl_pl.data.layouts.csv_list import csv_candidates
from cvrl_pl.data.layouts.files import Candidate, ListSpec, annotation_folder, is_pattern, some_names, video_ref
from cvrl_pl.data.layouts.folder import folder_candidates, log_ignored, root_entries
from cvrl_pl.data.layouts.kinetics import kinetics_candidates
from cvrl_pl.data.layouts.unlabelled import unlabelled_candidates
from cvrl_pl.data.layouts.webdataset import is_shard, webdataset_candidates
from cvrl_pl.errors import DatasetError, DatasetKeyError
from dali_pipelines import storage
from dali_pipelines.targets import Action


@dataclass(frozen=True)
class Layout:
    """How one layout lists a dataset: (root, lists, skip) -> (classes, candidates); whether it reads a CSV; for a
    dataset read through its official annotation files, its subsets, its split numbers, and how to recognise them;
    for a multi-label dataset, (lists, indexed paths) -> each video's actions (its candidates are labelled -1)."""

    candidates: Callable[[str, ListSpec, str | None], tuple[list[str], list[Candidate]]]
    uses_csv: bool = False
    subsets: tuple[str, ...] = ()  # non-empty: the layout reads annotation files and takes one of these subsets
    splits: tuple[int, ...] = (1,)
    recognises: Callable[[str], bool] | None = None  # does an annotation folder hold this dataset's lists?
    actions: Callable[[ListSpec, Sequence[str]], list[tuple[Action, ...]]] | None = None
    parts: bool = False  # its candidates can be listed a part at a time (``part=(k, n)``): shards


def _gym99(labels: range, recognises: Callable[[str], bool] | None = None) -> Layout:
    """The layout of the Gym99 classes ``labels``, read through the Gym99 lists."""
    return Layout(
        partial(gym99.gym_candidates, labels=labels),
        subsets=tuple(gym99.SUBSET_FILES),
        splits=gym99.SPLITS,
        recognises=recognises,
    )


LAYOUTS: dict[str, Layout] = {
    "folder": Layout(folder_candidates),
    "csv": Layout(csv_candidates, uses_csv=True),
    "kinetics": Layout(kinetics_candidates, uses_csv=True),
    "unlabelled": Layout(unlabelled_candidates),
    "webdataset": Layout(webdataset_candidates, parts=True),  # tar shards (video2dataset), on disk or in a bucket
    "ucf101": Layout(
        ucf101.ucf101_candidates,
        subsets=tuple(ucf101.LIST_PREFIX),
        splits=ucf101.SPLITS,
        recognises=ucf101.is_ucf101_folder,
    ),
    "hmdb51": Layout(
        hmdb51.hmdb51_candidates, subsets=tuple(hmdb51.TAGS), splits=hmdb51.SPLITS, recognises=hmdb51.is_hmdb51_folder
    ),
    "ssv2": Layout(
        ssv2.ssv2_candidates, subsets=tuple(ssv2.SUBSET_FILES), splits=ssv2.SPLITS, recognises=ssv2.is_ssv2_folder
    ),
    "charades": Layout(
        charades.charades_candidates,
        subsets=tuple(charades.SUBSET_FILES),
        splits=charades.SPLITS,
        recognises=charades.is_charades_folder,
        actions=charades.video_actions,
    ),
    "gym99": _gym99(range(gym99.NUM_CLASSES), recognises=gym99.is_gym99_folder),
    "finegym_fx_s1": _gym99(gym99.FX_S1),  # SEVERE's sets of Gym99 classes; auto takes the whole of Gym99
    "finegym_ub_s1": _gym99(gym99.UB_S1),
    # UCFRep's repetition-annotated UCF-101 videos (SEVERE's UCF-RC); named, never recognised: UCF-101's own lists
    # are ucf101's
    "ucfrep": Layout(ucfrep.ucfrep_candidates, subsets=ucfrep.SUBSETS),
}
# auto: recognised from the annotation files, the CSV's header or the folder structure
LAYOUT_CHOICES = ("auto", *LAYOUTS)
ANNOTATED = tuple(name for name, spec in LAYOUTS.items() if spec.subsets)  # read through official annotation files
RECOGNISED = tuple(name for name, spec in LAYOUTS.items() if spec.recognises)  # auto tells them by their lists


def _recognise(root: str, lists: ListSpec, skip: str | None) -> str:
    """The layout ``auto`` stands for: from the annotation files or the CSV header if given, else ``webdataset`` for
    shards, ``folder`` when the root holds folders and ``unlabelled`` when it holds only files; DatasetKeyError when
    it holds videos and folders."""
    if lists.annotations is not None:
        folder = annotation_folder(lists.annotations)
        found = [name for name in RECOGNISED if LAYOUTS[name].recognises(folder)]
        if not found:
            raise DatasetKeyError(
                "annotations", f"{{key}}: {folder} holds the official lists of none of {', '.join(RECOGNISED)}"
            )
        return found[0]
    if lists.csv is not None:
        with open(lists.csv, newline="", encoding="utf-8-sig") as f:
            header = next(csvlib.reader(f), [])
        return "kinetics" if "youtube_id" in [h.strip() for h in header] else "csv"
    if is_pattern(root) or storage.is_url(root):
        return "webdataset"
    # A folder is a class however deep its videos lie, as the folder layout reads it; a README.txt beside is no video.
    entries = root_entries(root, skip)
    if not entries.folders and not entries.videos and any(is_shard(name) for name in entries.others):
        return "webdataset"
    if entries.folders and entries.videos:
        raise DatasetKeyError(
            "layout",
            f"{{key}}=auto cannot tell whether {root} is labelled: it holds videos ({some_names(entries.videos, 3)}) "
            f"beside folders ({some_names(entries.folders, 3)}); set {{key}}=folder to take the folders as classes "
            "(the videos beside them are then left out) or {key}=unlabelled to read every video without labels",
        )
    if entries.folders and entries.others:  # said here too: a start that reuses its index lists nothing else
        log_ignored(root, tuple(entries.others))
    return "folder" if entries.folders else "unlabelled"


def _check_lists(layout: str, lists: ListSpec, root: str) -> None:
    """DatasetKeyError naming the setting that does not fit the layout."""
    spec = LAYOUTS[layout]
    if layout != "webdataset" and (is_pattern(root) or storage.is_url(root)):
        raise DatasetKeyError(
            "root",
            f"{{key}}={root}: layout '{layout}' reads a folder on this machine; shards (a URL or a brace "
            "pattern) are read by layout 'webdataset'",
        )
    if spec.uses_csv and lists.csv is None:
        raise DatasetKeyError("csv", f"layout '{layout}' needs a CSV file ({{key}})")
    if not spec.uses_csv and lists.csv is not None:
        raise DatasetKeyError("csv", f"layout '{layout}' does not use a CSV file, but {{key}} is {lists.csv}")
    if not spec.subsets:
        for key, value in (("annotations", lists.annotations), ("subset", lists.subset)):
            if value is not None:
                raise DatasetKeyError(
                    key, f"{{key}} is read by the {', '.join(ANNOTATED)} layouts only, not '{layout}'"
                )
    elif lists.annotations is None:
        raise DatasetKeyError("annotations", f"layout '{layout}' reads the official lists: set {{key}} to their folder")
    elif lists.subset not in spec.subsets:
        raise DatasetKeyError(
            "subset", f"{{key}} must be {' or '.join(spec.subsets)} for layout '{layout}', got {lists.subset}"
        )
    if lists.split not in spec.splits:
        shown = ", ".join(map(str, spec.splits))
        raise DatasetKeyError("split", f"{{key}}={lists.split}: layout '{layout}' has split(s) {shown}")


def resolve_layout(root: str, lists: ListSpec, layout: str, skip: str | None) -> str:
    """The layout ``auto`` stands for, after checking that ``lists`` fits it (DatasetKeyError naming the setting)."""
    if layout not in LAYOUT_CHOICES:
        raise DatasetError(f"unknown dataset layout '{layout}'; choose one of {', '.join(LAYOUT_CHOICES)}")
    if layout == "auto":
        layout = _recognise(root, lists, skip)
    _check_lists(layout, lists, root)
    return layout


def listed_candidates(
    root: str, layout: str, lists: ListSpec, skip: str | None, *, part: tuple[int, int] | None = None
) -> tuple[list[str], list[Candidate]]:
    """Classes and candidate files of a resolved layout in the layout's own order (an official list's: its line
    order), with their stat (or the reason 'missing'); with ``part`` (k, n), the k-th of n parts of a layout that
    lists in parts (``Layout.parts``)."""
    spec = LAYOUTS[layout]
    classes, found = spec.candidates(root, lists, skip, part=part) if part else spec.candidates(root, lists, skip)
    for c in found:
        if c.size >= 0 or c.reason is not None:  # already known (a shard's member: from its tar header)
            continue
        try:
            st = storage.stat(video_ref(root, c.path))
        except OSError:
            c.reason = c.reason or "missing"
            continue
        c.size, c.mtime_ns = st.size, st.mtime_ns
        if not st.is_file:
            c.reason = c.reason or "not a file"
    return classes, found


def list_candidates(
    root: str, layout: str, lists: ListSpec, skip: str | None, *, part: tuple[int, int] | None = None
) -> tuple[list[str], list[Candidate]]:
    """``listed_candidates`` sorted by path, as the index keeps them."""
    classes, found = listed_candidates(root, layout, lists, skip, part=part)
    return classes, sorted(found, key=lambda c: c.path)
