"""``csv`` layout: a list file of ``path,label`` rows (an optional header), paths relative to the root; the label
is a class name or an integer. Also the CSV reading that the Kinetics layout shares."""

from __future__ import annotations

import csv as csvlib
import posixpath
import re
from collections.abc import Iterable

from cvrl_pl.data.layouts.files import Candidate, ListSpec
from cvrl_pl.errors import DatasetError


def csv_rows(csv: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, stripped fields) of the non-blank rows of a CSV file."""
    with open(csv, newline="", encoding="utf-8-sig") as f:
        reader = csvlib.reader(f)
        for row in reader:
            fields = [x.strip() for x in row]
            if any(fields):
                yield reader.line_num, fields


def clean_relpath(csv: str, line: int, path: str) -> str:
    """A CSV path as a normalised POSIX path inside root; DatasetError naming the line otherwise."""
    rel = posixpath.normpath(path.replace("\\", "/"))
    if posixpath.isabs(rel) or rel == ".." or rel.startswith("../"):
        raise DatasetError(f"{csv}, line {line}: path '{path}' is not relative to the dataset root")
    return rel


def add_row(found: dict[str, tuple[int, str]], rel: str, name: str, *, csv: str, line: int) -> None:
    """Record a row in ``found`` (path -> (line, label name)); a file listed twice must have one label."""
    if rel in found and found[rel][1] != name:
        raise DatasetError(f"{csv}, line {line}: {rel} is listed again with another label ('{name}')")
    found.setdefault(rel, (line, name))


def labelled(found: dict[str, tuple[int, str]], ids: dict[str, int]) -> list[Candidate]:
    """The rows ``add_row`` recorded (path -> (line, class name)) as candidates labelled with their class ids."""
    return [Candidate(rel, ids[name]) for rel, (_, name) in found.items()]


def label_ids(names: list[str]) -> tuple[list[str], dict[str, int]]:
    """Classes and label ids: integers keep their value (classes are their string forms), names are sorted."""
    if names and all(re.fullmatch(r"\d+", n) for n in names):
        ids = {n: int(n) for n in names}
        return [str(i) for i in range(max(ids.values()) + 1)], ids
    classes = sorted(set(names))
    return classes, {n: i for i, n in enumerate(classes)}


def csv_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """Classes and files of a ``path,label`` list."""
    csv = lists.csv
    found: dict[str, tuple[int, str]] = {}
    for line, fields in csv_rows(csv):
        if [x.lower() for x in fields] == ["path", "label"] and not found:
            continue
        if len(fields) != 2 or not all(fields):
            raise DatasetError(f"{csv}, line {line}: expected 'path,label', got {','.join(fields)!r}")
        add_row(found, clean_relpath(csv, line, fields[0]), fields[1], csv=csv, line=line)
    classes, ids = label_ids([name for _, name in found.values()])
    return classes, labelled(found, ids)
