"""``ssv2`` layout: Something-Something v2 read through its official label files.

``something-something-v2-labels.json`` maps each template to its class id, a string ("0" to "173").
``something-something-v2-train.json`` and ``-validation.json`` list the videos as entries
``{"id": "78687", "label": ..., "template": "Holding [something] next to [something]", "placeholders": [...]}``. A
video's class is its template with the brackets removed (the labels file's keys have none), as the official
loaders do. Videos are ``ROOT/<id>.webm`` as distributed, ``ROOT/<id>.avi`` as the SEVERE benchmark converts them,
or a copy made by ``python -m cvrl_pl.data.prepare``. Ids are strings in the official files; numbers are accepted
too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from cvrl_pl.data.layouts.csv_list import add_row, clean_relpath, labelled
from cvrl_pl.data.layouts.files import (
    AVI_OR_TRANSCODED,
    Candidate,
    Folders,
    ListSpec,
    annotation_folder,
    annotation_text,
)
from cvrl_pl.errors import DatasetError

LABELS_FILE = "something-something-v2-labels.json"
SUBSET_FILES = {"train": "something-something-v2-train.json", "validation": "something-something-v2-validation.json"}
SPLITS = (1,)  # one official split


def is_ssv2_folder(folder: str) -> bool:
    """Whether ``folder`` holds the Something-Something v2 label files."""
    return os.path.isfile(os.path.join(folder, LABELS_FILE))


def _read_json(path: str) -> tuple[str, Any]:
    """The text and the value of a JSON file; DatasetError naming the file (and line) otherwise."""
    text = annotation_text(path)
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from None


def json_entries(path: str) -> Iterator[tuple[int, Any]]:
    """(line number, entry) of each element of the JSON list in ``path``."""
    text, value = _read_json(path)
    if not isinstance(value, list):
        raise DatasetError(f"{path}: expected a JSON list of videos, got a {type(value).__name__}")
    decoder, pos = json.JSONDecoder(), text.index("[") + 1
    for entry in value:  # decoded twice, the second time only to find where each entry starts
        while text[pos] in " \t\r\n,":
            pos += 1
        line = text.count("\n", 0, pos) + 1
        _, pos = decoder.raw_decode(text, pos)
        yield line, entry


def class_names(path: str) -> list[str]:
    """The templates of the labels file in class-id order."""
    _, value = _read_json(path)
    if not isinstance(value, dict) or not all(isinstance(v, str | int) for v in value.values()):
        raise DatasetError(f"{path}: expected an object of template -> class id")
    ids = {template: int(v) for template, v in value.items() if str(v).isdigit()}
    if len(ids) != len(value) or sorted(ids.values()) != list(range(len(ids))):
        raise DatasetError(f"{path}: class ids must be the numbers 0 to {len(value) - 1}, each once")
    return sorted(ids, key=ids.get)


def ssv2_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """The 174 classes and every video of the train or validation file, found or reported missing."""
    folder = annotation_folder(lists.annotations)
    labels = os.path.join(folder, LABELS_FILE)
    classes = class_names(labels)
    ids = {name: i for i, name in enumerate(classes)}
    path = os.path.join(folder, SUBSET_FILES[lists.subset])
    folders, found = Folders(root), {}
    for line, entry in json_entries(path):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str | int) or "template" not in entry:
            raise DatasetError(f"{path}, line {line}: expected an entry with 'id' and 'template', got {entry!r:.80}")
        name = str(entry["template"]).replace("[", "").replace("]", "")
        if name not in ids:
            raise DatasetError(f"{path}, line {line}: template '{name}' of video {entry['id']} is not in {labels}")
        rel = clean_relpath(path, line, f"{entry['id']}.webm")
        add_row(found, folders.find([rel], AVI_OR_TRANSCODED) or rel, name, csv=path, line=line)
    return classes, labelled(found, ids)
