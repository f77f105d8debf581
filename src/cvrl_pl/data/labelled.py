"""The labelled splits an evaluation reads: the probes' bank and queries, and the training and test splits of every
protocol (linear evaluation, fine-tuning, retrieval). Each must have classes, both the same, checked as they are
indexed, before any feature is extracted: an unlabelled split labels every video -1, which retrieval counts as a hit
for every neighbour and the classifiers fail on only once the features are computed. A multi-label split (charades)
labels every video -1 too, and has multi-hot targets instead: only the classifiers take it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cvrl_pl.data.datamodule import split_index
from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.layouts.files import some_names
from cvrl_pl.data.multilabel import is_multilabel
from cvrl_pl.errors import DatasetError


def labelled_splits(
    train: Mapping[str, Any],
    test: Mapping[str, Any],
    *,
    sections: tuple[str, str],
    progress: bool = True,
    other_train: str = "",
    multilabel: bool = False,
) -> tuple[VideoIndex, VideoIndex]:
    """The indexes of a training and a test split, from config sections ``sections`` (``data``, ``val`` or
    ``probe.train``); DatasetError naming the keys and layouts if either has no classes or their classes differ,
    or if either is multi-label where the caller scores single labels (``multilabel`` False).
    ``other_train``: where else a labelled training split may be given, for the error."""
    indexes = []
    for split, section, other in zip((train, test), sections, (other_train, ""), strict=True):
        index = split_index(split, section=section, progress=progress)
        if not index.classes:
            raise DatasetError(
                f"{_described(split, section, index)}: an evaluation needs labelled videos; put them in class folders "
                f"({section}.root/<class>/<video>), list them with their labels ({section}.csv) or set {section}.layout"
                + (f", or give a labelled split in {other}" if other else "")
            )
        if is_multilabel(index) and not multilabel:
            raise DatasetError(
                f"{_described(split, section, index)} is multi-label (a video has several actions): only the "
                "classification protocols (task=linear_eval, task=finetune) score it, by mAP; retrieval and the kNN "
                "and linear probes need one label per video"
            )
        indexes.append(index)
    (train_index, test_index), (train_section, test_section) = indexes, sections
    if is_multilabel(train_index) != is_multilabel(test_index):
        raise DatasetError(
            f"{_described(train, train_section, train_index)} and {_described(test, test_section, test_index)}: "
            "one split is multi-label and the other is not"
        )
    if train_index.classes != test_index.classes:
        first, second = set(train_index.classes), set(test_index.classes)
        detail = (
            f"only in {train_section}: {some_names(sorted(first - second), 5) or '-'}; "
            f"only in {test_section}: {some_names(sorted(second - first), 5) or '-'}"
            if first != second
            else "the same names in another order, so the same label means another class"
        )
        raise DatasetError(
            f"{train_section}.root and {test_section}.root have different classes: "
            f"{_described(train, train_section, train_index)}, {_described(test, test_section, test_index)}; {detail}"
        )
    return train_index, test_index


def _described(split: Mapping[str, Any], section: str, index: VideoIndex) -> str:
    """``val.root=/data/val (layout unlabelled, from val.layout=auto; 0 classes)``: where a split's labels came from."""
    chosen = f", from {section}.layout=auto" if split["layout"] == "auto" else ""
    return f"{section}.root={split['root']} (layout {index.layout}{chosen}; {len(index.classes)} classes)"
