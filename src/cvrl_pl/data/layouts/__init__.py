"""Dataset layouts: which files of a dataset root are videos, and their labels. One module per layout; the
registry ``LAYOUTS`` is the one list of them (the config's ``data.layout`` choices are its names and ``auto``).

A layout maps (root, csv, skip) to (class names, candidate files). Probing the files is the index's job
(cvrl_pl.data.index); this package only lists them, without opening a video.
"""

from __future__ import annotations

import csv as csvlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from cvrl_pl.data.layouts.csv_list import csv_candidates
from cvrl_pl.data.layouts.files import Candidate, abspath, visible
from cvrl_pl.data.layouts.folder import folder_candidates
from cvrl_pl.data.layouts.kinetics import kinetics_candidates
from cvrl_pl.data.layouts.unlabelled import unlabelled_candidates
from cvrl_pl.errors import DatasetError


@dataclass(frozen=True)
class Layout:
    """How one layout lists a dataset: (root, csv, skip) -> (classes, candidates); whether it reads a CSV."""

    candidates: Callable[[str, str | None, str | None], tuple[list[str], list[Candidate]]]
    uses_csv: bool


LAYOUTS: dict[str, Layout] = {
    "folder": Layout(folder_candidates, uses_csv=False),
    "csv": Layout(csv_candidates, uses_csv=True),
    "kinetics": Layout(kinetics_candidates, uses_csv=True),
    "unlabelled": Layout(unlabelled_candidates, uses_csv=False),
}
LAYOUT_CHOICES = ("auto", *LAYOUTS)  # auto: recognised from the CSV's header or the folder structure


def resolve_layout(root: str, csv: str | None, layout: str, skip: str | None) -> str:
    """The layout ``auto`` stands for: from the CSV header if a CSV is given, else from the folder structure."""
    if layout not in LAYOUT_CHOICES:
        raise DatasetError(f"unknown dataset layout '{layout}'; choose one of {', '.join(LAYOUT_CHOICES)}")
    if layout != "auto" and LAYOUTS[layout].uses_csv and csv is None:
        raise DatasetError(f"layout '{layout}' needs a CSV file (--csv)")
    if layout != "auto" and not LAYOUTS[layout].uses_csv and csv is not None:
        raise DatasetError(f"layout '{layout}' does not use a CSV file, but one was given: {csv}")
    if layout != "auto":
        return layout
    if csv is not None:
        with open(csv, newline="", encoding="utf-8-sig") as f:
            header = next(csvlib.reader(f), [])
        return "kinetics" if "youtube_id" in [h.strip() for h in header] else "csv"
    entries = [e for e in os.scandir(root) if visible(e.name) and e.path != skip]
    dirs = [e.path for e in entries if e.is_dir()]
    if not dirs or any(not e.is_dir() for e in entries):
        return "unlabelled"
    direct = [[e for e in os.scandir(d) if visible(e.name)] for d in dirs]
    if all(any(e.is_file() for e in es) or not es for es in direct) and any(direct):
        return "folder"
    return "unlabelled"


def list_candidates(root: str, layout: str, csv: str | None, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """Classes and candidate files of a resolved layout, sorted by path, with their stat (or the reason 'missing')."""
    classes, found = LAYOUTS[layout].candidates(root, csv, skip)
    for c in found:
        try:
            st = os.stat(abspath(root, c.path))
        except OSError:
            c.reason = c.reason or "missing"
            continue
        c.size, c.mtime_ns = st.st_size, st.st_mtime_ns
        if not stat.S_ISREG(st.st_mode):
            c.reason = c.reason or "not a file"
    return classes, sorted(found, key=lambda c: c.path)
