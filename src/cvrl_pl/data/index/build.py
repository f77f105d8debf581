"""Building an index, and reusing a saved one: only new or changed files (by size and mtime) are probed again, so
re-indexing a large dataset after adding a few videos takes seconds.

The index is written chunk by chunk into an unfinished folder beside it (``<index>.partial-<host>-<pid>``), which
replaces the index when done; a build that was killed leaves its folder, whose committed probes the next build
reuses like the saved index's. Earlier probes are found by merging sorted paths, never a dict of every path.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import numpy as np

from cvrl_pl.data.index.listing import REINDEX, folders_of, listing_change, listing_signature
from cvrl_pl.data.index.location import default_index_path, part_path, slug, stale, unfinished_builds
from cvrl_pl.data.index.probe import probe_iter
from cvrl_pl.data.index.records import (
    DEFAULT_INDEX_NAME,
    KEYFRAME_COLUMNS,
    VideoInfo,
    VideoRecord,
    index_description,
)
from cvrl_pl.data.index.store import IndexWriter, record_listing, record_meta, replace_folder
from cvrl_pl.data.index.video_index import NOTHING, VideoIndex, describe_saved
from cvrl_pl.data.layouts import LAYOUTS, list_candidates, resolve_layout
from cvrl_pl.data.layouts.files import Candidate, ListSpec, is_pattern, video_ref
from cvrl_pl.errors import DatasetError, DatasetKeyError
from dali_pipelines import storage

CHUNK = 4096  # candidates per committed chunk of a build

# An index found at the place of the one to build -> what it says and does about it.
OLDER = "probing every file again: {path} is {problem}"
LEGACY_JSON = "probing every file again: {path} is {problem}; the new index is {new} (the old file is removed)"


def matches(paths: Sequence[str], table: Sequence[str]) -> np.ndarray:
    """For each of the sorted ``paths``, its row in the sorted ``table``, or -1: one merging pass."""
    rows = np.full(len(paths), -1, np.int64)
    j, n = 0, len(table)
    current = table[0] if n else None
    for i, path in enumerate(paths):
        while current is not None and current < path:
            j += 1
            current = table[j] if j < n else None
        if current == path:
            rows[i] = j
    return rows


def _info(data: dict) -> VideoInfo:
    return VideoInfo(**{**data, **{name: tuple(data.get(name, ())) for name in KEYFRAME_COLUMNS}})


class EarlierProbes:
    """What earlier indexes of the same files found, per candidate, where the file's size and mtime are unchanged."""

    def __init__(self, found: list[Candidate]):
        self.found, self.paths = found, [c.path for c in found]
        self.sources: list[tuple[VideoIndex, np.ndarray, np.ndarray]] = []

    def add(self, index: VideoIndex, *, usable_only: bool = False) -> None:
        excluded = np.full(len(self.paths), -1) if usable_only else matches(self.paths, [p for p, _ in index.excluded])
        self.sources.append((index, matches(self.paths, index.videos.paths), excluded))

    def get(self, i: int) -> VideoInfo | str | None:
        """Candidate i's earlier probe (or reason), None if no earlier index probed this file as it is now."""
        c = self.found[i]
        for index, videos, excluded in self.sources:
            if videos[i] >= 0:
                v = index.videos[int(videos[i])]
                if (v.size, v.mtime_ns) == (c.size, c.mtime_ns):
                    return v.info()
            if excluded[i] >= 0:
                path, reason = index.excluded[int(excluded[i])]
                meta = index.excluded_meta.get(path, {})
                if (meta.get("size"), meta.get("mtime_ns")) == (c.size, c.mtime_ns):
                    return _info(meta["info"]) if "info" in meta else reason
        return None

    def same_as(self, index: VideoIndex) -> bool:
        """Whether the first source, ``index``, has every candidate as it is now and nothing else."""
        if not self.sources or self.sources[0][0] is not index:
            return False
        _, videos, excluded = self.sources[0]
        if len(index.videos) + len(index.excluded) != len(self.found):
            return False
        sizes = index.videos.column("size")
        mtimes = index.videos.column("mtime_ns")
        for i, c in enumerate(self.found):
            if videos[i] >= 0:
                if (sizes[videos[i]], mtimes[videos[i]]) != (c.size, c.mtime_ns):
                    return False
            elif excluded[i] < 0:
                return False
            elif c.reason is not None:
                if index.excluded[int(excluded[i])][1] != c.reason:
                    return False
            elif self.get(i) is None:
                return False
        return True


def _build(
    root: str,
    *,
    lists: ListSpec,
    layout: str,
    path: str,
    workers: int | None,
    progress: bool,
    min_frames: int,
    verify: str = "first",
    old: VideoIndex | None = None,
    more: Callable[[], list[VideoIndex]] | None = None,
    part: tuple[int, int] | None = None,
) -> VideoIndex:
    """The index of ``root`` at ``path``: ``old`` itself if nothing changed, else a new one that probes only the
    candidates that neither ``old``, the unfinished builds of ``path``, nor (read only if still needed)
    ``more()`` probed as they are now."""
    classes, found = list_candidates(root, layout, lists, path, part=part)
    shards = layout == "webdataset"
    listing = listing_signature(root, lists, [] if shards else folders_of(c.path for c in found), shards=shards)
    earlier = EarlierProbes(found)
    if old is not None:
        earlier.add(old)
        if old.min_frames == min_frames and old.verify == verify and old.classes == classes and earlier.same_as(old):
            if old.listing != listing:  # the same files, a folder touched: what the next start compares
                with contextlib.suppress(OSError):  # a read-only index is still good: the next start lists again
                    record_listing(old.folder, listing)
                old.listing = listing
            return old
    for folder in unfinished_builds(path):
        try:
            partial = VideoIndex.load(folder, unfinished=True)
        except DatasetError:
            continue
        if same_source(partial, root=root, layout=layout, lists=lists, verify=verify, part=part):
            earlier.add(partial)
    todo = [i for i, c in enumerate(found) if c.reason is None and earlier.get(i) is None]
    if todo and more is not None:
        for other in more():
            earlier.add(other, usable_only=True)
        todo = [i for i in todo if earlier.get(i) is None]
    refs = [video_ref(root, found[i].path, offset=found[i].offset, size=found[i].size) for i in todo]
    read: Counter = Counter()
    probes = probe_iter(refs, workers, progress and bool(todo), verify, read=read)
    folder = f"{path}.partial-{socket.gethostname()}-{os.getpid()}"
    writer = IndexWriter(folder)
    options = {"layout": layout, "min_frames": min_frames, "verify": verify, **_lists(lists), "listing": listing}
    if part:
        options["part"] = list(part)
    description = index_description(root, classes, **options)
    writer.commit(**description, complete=False)
    todo_set = set(todo)
    for start in range(0, len(found), CHUNK):
        videos, excluded = [], []
        for i in range(start, min(start + CHUNK, len(found))):
            c = found[i]
            result = c.reason if c.reason is not None else next(probes) if i in todo_set else earlier.get(i)
            meta: dict = {"size": c.size, "mtime_ns": c.mtime_ns} if c.size >= 0 else {}
            if isinstance(result, VideoInfo):
                record = VideoRecord(c.path, c.label, **vars(result), size=c.size, mtime_ns=c.mtime_ns, offset=c.offset)
                if result.num_frames >= min_frames:
                    videos.append(record)
                    continue
                meta, result = record_meta(record), f"too short: {result.num_frames} frames (< {min_frames})"
            excluded.append((c.path, result, meta))
        writer.add(videos, excluded)
    stored = sum(max(0, found[i].size) for i in todo)
    return writer.finish({**description, "probing": probing_figures(len(todo), read["bytes"], stored)})


def probing_figures(videos: int, read: int, stored: int) -> dict:
    """What a build's probes read: the bytes read through ranged reads (shard members, URLs) against the bytes those
    videos hold; the report shows it (the issue's "bytes read against bytes stored")."""
    return {"videos": videos, "bytes_read": read, "bytes_stored": stored}


def _lists(lists: ListSpec) -> dict:
    return {"csv": lists.csv, "annotations": lists.annotations, "split": lists.split, "subset": lists.subset}


def same_source(
    index: VideoIndex, *, root: str, layout: str, lists: ListSpec, verify: str, part: tuple[int, int] | None = None
) -> bool:
    """Whether ``index`` lists the same files (the same ``part``) of the same dataset, probed at least as thoroughly
    as ``verify``."""
    same = (index.root, index.layout, index.lists(), index.part) == (root, layout, lists, part)
    return same and (index.verify == "full" or verify == "first")


def finish_index(index: VideoIndex, path: str) -> VideoIndex:
    """Put a freshly built index at ``path``, remove the unfinished builds it superseded, and open it there;
    DatasetError, keeping what is at ``path``, if it has no usable video."""
    if index.folder == os.path.abspath(path):
        return _require_videos(index)
    if not len(index.videos):
        shutil.rmtree(index.folder, ignore_errors=True)
        _require_videos(index)
    replace_folder(index.folder, path)
    for folder in unfinished_builds(path):
        if stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
    return VideoIndex.load(path)


def _check_root(root: str) -> None:
    """DatasetError if the dataset root is not there, or cannot be reached (a refused credential, no such bucket,
    no endpoint): said before anything is read. A brace pattern's shards are checked one by one when listed."""
    if is_pattern(root):
        return
    try:
        found = storage.is_folder(root)
    except OSError as exc:
        where = "; the endpoint and credentials come from AWS_* variables or data.storage_options" * storage.is_url(
            root
        )
        raise DatasetError(f"cannot reach dataset root: {exc}{where}") from exc
    if not found:
        raise DatasetError(f"dataset root not found: {root}")


def check_args(root: str | os.PathLike, lists: ListSpec, min_frames: int) -> tuple[str, ListSpec]:
    """The absolute root (a URL as it is), and ``lists`` with absolute paths, after checking that they exist."""
    root = storage.absolute(os.fspath(root))
    _check_root(root)
    if lists.csv is not None:
        lists = replace(lists, csv=os.path.abspath(os.fspath(lists.csv)))
        if not os.path.isfile(lists.csv):
            raise DatasetError(f"CSV file not found: {lists.csv}")
    if lists.annotations is not None:
        lists = replace(lists, annotations=os.path.abspath(os.fspath(lists.annotations)))
        if not os.path.exists(lists.annotations):
            raise DatasetError(f"annotation folder not found: {lists.annotations}")
    if min_frames < 1:
        raise DatasetError(f"min_frames must be at least 1, got {min_frames}")
    return root, lists


def _require_videos(index: VideoIndex) -> VideoIndex:
    if not index.videos:
        found = "no files found" if not index.excluded else "every file was rejected"
        raise DatasetError(f"no usable videos in dataset root {index.root} ({found})\n{index.report()}")
    return index


def build_index(
    root: str | os.PathLike,
    *,
    csv: str | os.PathLike | None = None,
    annotations: str | os.PathLike | None = None,
    split: int = 1,
    subset: str | None = None,
    layout: str = "auto",
    workers: int | None = None,
    progress: bool = True,
    min_frames: int = 1,
    verify: str = "first",
) -> VideoIndex:
    """Probe every candidate file of the dataset at ``root`` into a new index in a temporary folder (removed at
    exit); DatasetError if none is usable."""
    root, lists = check_args(root, ListSpec(csv, annotations, split, subset), min_frames)
    layout = resolve_layout(root, lists, layout, None)
    scratch = tempfile.mkdtemp(prefix="cvrl_index-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    options = {"workers": workers, "progress": progress, "min_frames": min_frames, "verify": verify}
    path = os.path.join(scratch, DEFAULT_INDEX_NAME)
    return finish_index(_build(root, lists=lists, layout=layout, path=path, **options), path)


def _siblings(index_path: str, root: str, verify: str) -> list[VideoIndex]:
    """The other indexes of ``root`` beside ``index_path``: the train and test lists of a dataset's splits name the
    same files, which are then probed once."""
    found = []
    pattern = os.path.join(glob.escape(os.path.dirname(index_path)), DEFAULT_INDEX_NAME + "*")
    for path in sorted(glob.glob(pattern)):
        if path == index_path or ".partial-" in path or not os.path.isdir(path):
            continue
        try:
            other = VideoIndex.load(path)
        except DatasetError:
            continue
        if other.root == root and (other.verify == "full" or verify == "first"):
            found.append(other)
    return found


def _saved(index_path: str, default: str, log: Callable[[str], None]) -> VideoIndex | None:
    """The index saved at ``index_path`` if it opens as it is; else None, saying why when something is there
    (an older version, an unfinished or foreign folder), and removing an older JSON index at the default place."""
    problem = describe_saved(index_path)
    if not problem:
        try:
            return VideoIndex.load(index_path)
        except DatasetError as exc:
            problem = str(exc)
    if problem != NOTHING:
        log(OLDER.format(path=index_path, problem=problem))
    if index_path == default:
        legacy = default + ".json"  # where cvrl-pl kept its JSON index before version 3
        legacy_problem = describe_saved(legacy)
        if legacy_problem != NOTHING:
            log(LEGACY_JSON.format(path=legacy, problem=legacy_problem, new=index_path))
            os.remove(legacy)
    return None


def load_or_build_index(
    root: str | os.PathLike,
    *,
    index_path: str | os.PathLike | None = None,
    csv: str | os.PathLike | None = None,
    annotations: str | os.PathLike | None = None,
    split: int = 1,
    subset: str | None = None,
    layout: str = "auto",
    verify: str = "first",
    workers: int | None = None,
    progress: bool = True,
    min_frames: int = 1,
    log: Callable[[str], None] | None = None,
    note: Callable[[str], None] | None = None,
    reindex: str = "auto",
    part: tuple[int, int] | None = None,
) -> VideoIndex:
    """The saved index at ``index_path`` if still valid, else one rebuilt probing only new or changed files.

    ``reindex`` says when the dataset is listed again (every file stat-ed) to check a saved index of the same
    dataset and options: ``auto`` only when what lists it changed (listing.listing_change: the root's top-level
    names, a folder's time, the list files), never per file; ``always`` at every call; ``never`` not at all (what
    every rank does after the node's first process has checked them, CVRLDataModule.setup). A file changed in
    place or gone since is found when it is read. ``note`` hears which happened and how long it took.

    ``verify="full"`` decodes every frame of the files it probes; probes of an earlier ``"first"`` index do not
    count for it, those of a ``"full"`` index count for both. Probes of the usable videos in other indexes of the
    same root beside it count too (the other split or subset of a dataset's official lists). An index of an older
    version is never read: every file is probed again, and ``log`` says so. ``part`` (k, n): the index of the k-th
    of n contiguous parts of a shard set only, at ``<index>.part-k-of-n`` (parts.merge_parts puts them together).
    """
    log, note = log or warnings.warn, note or (lambda _: None)
    if reindex not in REINDEX:
        raise DatasetKeyError("reindex", f"{{key}} must be one of {', '.join(REINDEX)}, got {reindex!r}")
    started = time.perf_counter()
    root, lists = check_args(root, ListSpec(csv, annotations, split, subset), min_frames)
    given = os.path.abspath(os.fspath(index_path)) if index_path is not None else None
    layout = resolve_layout(root, lists, layout, given)
    default = default_index_path(root, layout, lists)
    index_path = given or default
    if part is not None:
        check_part(part, layout)
        index_path = part_path(index_path, part)
    old = _saved(index_path, default, log)
    if old is not None and not same_source(old, root=root, layout=layout, lists=lists, verify=verify, part=part):
        old = None
    why = "no saved index of these options" if old is None or old.min_frames != min_frames else ""
    if not why and reindex != "never":
        why = "reindex=always" if reindex == "always" else listing_change(old.listing, root, lists)
    if not why:
        seconds = time.perf_counter() - started
        note(f"video index: {index_path} reused without listing the dataset ({seconds:.2f} s)")
        return old
    options = {"workers": workers, "progress": progress, "min_frames": min_frames, "verify": verify}
    more = partial(_siblings, index_path, root, verify)  # read only if this index lacks a probe
    try:
        index = _build(root, lists=lists, layout=layout, path=index_path, old=old, more=more, part=part, **options)
        index = finish_index(index, index_path)
    except PermissionError as exc:  # a read-only dataset: build where it can be written
        scratch = os.path.join(tempfile.gettempdir(), f"cvrl_index-{os.getuid()}", slug(index_path))
        log(f"could not write the video index at {index_path} ({exc}); building it at {scratch}: pass data.index")
        os.makedirs(os.path.dirname(scratch), exist_ok=True)
        index = finish_index(_build(root, lists=lists, layout=layout, path=scratch, part=part, **options), scratch)
    note(f"video index: {root} listed again ({why}; {time.perf_counter() - started:.2f} s)")
    return index


def check_part(part: tuple[int, int], layout: str) -> None:
    """DatasetKeyError unless ``part`` is (k, n) with 0 <= k < n, for a layout indexed in parts."""
    k, n = part
    if not 0 <= k < n:
        raise DatasetKeyError("part", f"{{key}} {k}/{n}: the part is counted from 0 to {n - 1}")
    if not LAYOUTS[layout].parts:
        raise DatasetKeyError("part", f"{{key}}: layout '{layout}' is indexed whole; only webdataset's shards in parts")
