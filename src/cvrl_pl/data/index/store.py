"""Writing an index folder chunk by chunk (records.SCHEMA's tables through columns.ColumnWriter), so that indexing
millions of videos never holds them all in memory, and a killed build resumes from its last committed chunk."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cvrl_pl.data.index.columns import ColumnWriter, open_tables, read_manifest, write_manifest
from cvrl_pl.data.index.records import CATEGORIES, KEYFRAME_COLUMNS, SCHEMA, VideoRecord, index_description
from cvrl_pl.data.index.video_index import VideoIndex


class IndexWriter:
    """Appends videos and excluded files to an index folder; ``finish`` describes the index and opens it.

    ``resume=True`` continues an unfinished folder from its last commit (``add`` commits every chunk).
    """

    def __init__(self, folder: str | os.PathLike, *, resume: bool = False):
        self.folder = Path(folder)
        self.writer = ColumnWriter(self.folder, SCHEMA, resume=resume)
        self.vocab: dict[str, list[str]] = {n: list(v) for n, v in self.writer.meta.get("vocab", {}).items()}
        for name in CATEGORIES:
            self.vocab.setdefault(name, [])
        self.codes = {name: {v: k for k, v in enumerate(self.vocab[name])} for name in CATEGORIES}
        self.dirs: dict[str, int] = {}
        if self.writer.rows("dirs"):
            _, tables = open_tables(self.folder)
            self.dirs = {d: k for k, d in enumerate(tables["dirs"]["name"])}

    @property
    def meta(self) -> dict:
        return self.writer.meta

    def _code(self, name: str, values: Sequence[str]) -> np.ndarray:
        """Codes of ``values`` in the vocabulary of category ``name``, adding new values."""
        codes = self.codes[name]
        for v in values:
            if v not in codes:
                codes[v] = len(self.vocab[name])
                self.vocab[name].append(v)
        return np.fromiter((codes[v] for v in values), np.int16, len(values))

    def _dir_ids(self, paths: Sequence[str]) -> np.ndarray:
        new: list[str] = []
        ids = np.empty(len(paths), np.int32)
        for i, path in enumerate(paths):
            folder = path.rpartition("/")[0]
            if folder not in self.dirs:
                self.dirs[folder] = len(self.dirs)
                new.append(folder)
            ids[i] = self.dirs[folder]
        if new:
            self.writer.append("dirs", {"name": new})
        return ids

    def add_columns(self, paths: Sequence[str], columns: Mapping[str, Sequence | np.ndarray]) -> None:
        """Append videos given column-wise: their relative paths, and every other column of SCHEMA["videos"] (the
        categories as strings, the keyframe columns as one array per video)."""
        encoded = {name: self._code(name, columns[name]) if name in CATEGORIES else columns[name] for name in columns}
        encoded["dir"] = self._dir_ids(paths)
        encoded["name"] = [p.rpartition("/")[2] for p in paths]
        self.writer.append("videos", encoded)

    def add(self, videos: Sequence[VideoRecord], excluded: Sequence[tuple[str, str, dict]] = ()) -> None:
        """Append a chunk of usable videos and of excluded files ((path, reason, meta): the stat, and the probe
        of a too-short video as ``info``), and commit it."""
        if videos:
            names = [n for n in SCHEMA["videos"] if n not in ("dir", "name")]
            columns = {n: [getattr(v, n) for v in videos] for n in names}
            for name in KEYFRAME_COLUMNS:
                columns[name] = [np.asarray(k, np.int64) for k in columns[name]]
            self.add_columns([v.path for v in videos], columns)
        if excluded:
            self.writer.append(
                "excluded",
                {
                    "path": [p for p, _, _ in excluded],
                    "reason": [r for _, r, _ in excluded],
                    "size": [m.get("size", -1) for _, _, m in excluded],
                    "mtime_ns": [m.get("mtime_ns", -1) for _, _, m in excluded],
                    "info": [json.dumps(m["info"]) if "info" in m else "" for _, _, m in excluded],
                },
            )
        self.commit()

    def commit(self, **meta) -> None:
        self.writer.commit(vocab=self.vocab, **meta)

    def finish(self, description: dict) -> VideoIndex:
        """Record the index's ``description`` (records.index_description) as complete, and open it."""
        self.commit(**description, complete=True)
        return VideoIndex.load(self.folder)


def record_listing(folder: str | os.PathLike, listing: dict) -> None:
    """Replace the listing signature (listing.listing_signature) a saved index recorded, nothing else."""
    manifest = read_manifest(folder)
    manifest["meta"]["listing"] = listing
    write_manifest(Path(folder), manifest)


def record_meta(record: VideoRecord) -> dict:
    """What an excluded too-short video keeps of its probe, for a later index with a lower ``min_frames``."""
    info = asdict(record.info())
    info.update({name: list(info[name]) for name in KEYFRAME_COLUMNS})
    return {"size": record.size, "mtime_ns": record.mtime_ns, "info": info}


def replace_folder(new: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put the finished index folder ``new`` at ``path``, replacing what is there (an older index folder or file).
    Processes that mapped the old columns keep reading them: unlinked files live on while mapped."""
    path = Path(path)
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.is_dir():
        os.replace(path, old)
    elif path.exists():
        path.unlink()
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def write_index(
    folder: str | os.PathLike,
    videos: Sequence[VideoRecord],
    *,
    root: str,
    classes: Sequence[str] = (),
    excluded: Sequence[tuple[str, str, dict]] = (),
    **options,
) -> VideoIndex:
    """An index of the given records, written at ``folder`` in one go (an index made by hand, or in tests);
    ``options``: layout, csv, annotations, split, subset, min_frames, verify."""
    defaults = {"layout": "unlabelled", "csv": None, "annotations": None, "split": 1, "subset": None}
    writer = IndexWriter(folder)
    writer.add(videos, excluded)
    description = index_description(root, list(classes), **{**defaults, "min_frames": 1, "verify": "first", **options})
    return writer.finish(description)
