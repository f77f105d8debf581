"""``kinetics`` layout: the official Kinetics annotation CSV (``label,youtube_id,time_start,time_end,split``); a
row's file is ``root/<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4`` (or .webm/.mkv, re-encoded)."""

from __future__ import annotations

import csv as csvlib

from cvrl_pl.data.layouts.csv_list import add_row, labelled
from cvrl_pl.data.layouts.files import Candidate, Folders, ListSpec
from cvrl_pl.errors import DatasetError

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
# The downloaded .mp4 first, then copies re-encoded by prepare.py.
KINETICS_EXTENSIONS = (".mp4", ".webm", ".mkv")


def _clip_name(csv: str, line: int, row: dict[str, str]) -> str:
    """``<youtube_id>_<time_start:06d>_<time_end:06d>``, as the Kinetics download scripts name a clip."""
    try:
        start, end = (int(float(row[k])) for k in ("time_start", "time_end"))
    except (TypeError, ValueError):
        raise DatasetError(f"{csv}, line {line}: time_start/time_end must be numbers, got {row}") from None
    if not row["youtube_id"] or not row["split"] or not row["label"]:
        raise DatasetError(f"{csv}, line {line}: empty label, youtube_id or split in {row}")
    return f"{row['youtube_id']}_{start:06d}_{end:06d}"


def _clip_folders(row: dict[str, str]) -> list[str]:
    """Where a clip may be: ``<split>/<label>``, with spaces in the label as underscores, or flat in ``<split>``."""
    split, label = row["split"], row["label"]
    return list(dict.fromkeys([f"{split}/{label}", f"{split}/{label.replace(' ', '_')}", split]))


def kinetics_candidates(root: str, lists: ListSpec, skip: str | None) -> tuple[list[str], list[Candidate]]:
    """Classes (the sorted label names) and the file of every annotated clip, found or reported missing."""
    csv, folders = lists.csv, Folders(root)
    found: dict[str, tuple[int, str]] = {}
    with open(csv, newline="", encoding="utf-8-sig") as f:
        reader = csvlib.DictReader(f, skipinitialspace=True)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in KINETICS_COLUMNS if c not in header]
        if missing:
            raise DatasetError(f"{csv}: not a Kinetics annotation file: no column {', '.join(missing)}")
        reader.fieldnames = header
        for row in reader:
            row = {k: (v or "").strip() for k, v in row.items() if k is not None}
            stem = _clip_name(csv, reader.line_num, row)
            rel = f"{row['split']}/{row['label']}/{stem}.mp4"  # the expected name, reported if there is no file
            names = (f"{d}/{stem}{e}" for d in _clip_folders(row) for e in KINETICS_EXTENSIONS)
            rel = folders.find(names, extensions=()) or rel
            add_row(found, rel, row["label"], csv=csv, line=reader.line_num)
    classes = sorted({name for _, name in found.values()})
    ids = {n: i for i, n in enumerate(classes)}
    return classes, labelled(found, ids)
