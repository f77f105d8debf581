"""Building an index, and reusing a saved one: only new or changed files (by size and mtime) are probed again, so
re-indexing a large dataset after adding a few videos takes seconds."""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial

from cvrl_pl.data.index.probe import probe_all
from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME, VideoIndex, VideoInfo, VideoRecord
from cvrl_pl.data.layouts import LAYOUTS, list_candidates, resolve_layout
from cvrl_pl.data.layouts.files import Candidate, ListSpec, abspath
from cvrl_pl.errors import DatasetError


def _cached_probes(old: VideoIndex) -> dict[str, tuple[int, int, VideoInfo | str]]:
    """path -> (size, mtime_ns, probe result) of every file an earlier index probed."""
    cache: dict[str, tuple[int, int, VideoInfo | str]] = {}
    for v in old.videos:
        cache[v.path] = (v.size, v.mtime_ns, v.info())
    for path, reason in old.excluded:
        meta = old.excluded_meta.get(path, {})
        if "size" in meta and "mtime_ns" in meta:
            result = VideoInfo(**meta["info"]) if "info" in meta else reason
            cache[path] = (meta["size"], meta["mtime_ns"], result)
    return cache


def _sibling_probes(index_path: str, root: str, verify: str) -> dict[str, tuple[int, int, VideoInfo | str]]:
    """Probes of the usable videos in the other indexes of ``root`` beside ``index_path``: the train and test lists
    of a dataset's splits name the same files, which are then probed once."""
    cache: dict[str, tuple[int, int, VideoInfo | str]] = {}
    pattern = os.path.join(glob.escape(os.path.dirname(index_path)), DEFAULT_INDEX_NAME.replace(".json", "*.json"))
    for path in sorted(glob.glob(pattern)):
        try:
            other = VideoIndex.load(path) if path != index_path else None
        except DatasetError:
            continue
        if other is not None and other.root == root and (other.verify == "full" or verify == "first"):
            cache.update({p: c for p, c in _cached_probes(other).items() if isinstance(c[2], VideoInfo)})
    return cache


def _build(
    root: str,
    *,
    lists: ListSpec,
    layout: str,
    workers: int | None,
    progress: bool,
    min_frames: int,
    verify: str = "first",
    skip: str | None = None,
    cache: dict[str, tuple[int, int, VideoInfo | str]] | None = None,
    more_probes: Callable[[], dict[str, tuple[int, int, VideoInfo | str]]] | None = None,
) -> VideoIndex:
    """The index of ``root``, probing only the candidates whose (size, mtime) is neither in ``cache`` nor, read only
    when ``cache`` lacks some, in ``more_probes()``."""
    classes, found = list_candidates(root, layout, lists, skip)
    cache = cache or {}

    def known(c: Candidate) -> bool:
        return c.path in cache and cache[c.path][:2] == (c.size, c.mtime_ns)

    if more_probes is not None and any(c.reason is None and not known(c) for c in found):
        cache = {**more_probes(), **cache}
    results: dict[str, VideoInfo | str] = {}
    todo = []
    for c in found:
        if c.reason is not None:
            results[c.path] = c.reason
        elif known(c):
            results[c.path] = cache[c.path][2]
        else:
            todo.append(c.path)
    if todo:
        probed = probe_all([abspath(root, p) for p in todo], workers, progress, verify)
        results.update(zip(todo, probed, strict=True))

    index = VideoIndex(root, classes, [], [], layout=layout, min_frames=min_frames, verify=verify, **asdict(lists))
    for c in found:
        result = results[c.path]
        if isinstance(result, VideoInfo) and result.num_frames >= min_frames:
            index.videos.append(VideoRecord(c.path, c.label, **asdict(result), size=c.size, mtime_ns=c.mtime_ns))
            continue
        meta: dict = {"size": c.size, "mtime_ns": c.mtime_ns} if c.size >= 0 else {}
        if isinstance(result, VideoInfo):
            meta["info"] = asdict(result)
            result = f"too short: {result.num_frames} frames (< {min_frames})"
        index.excluded.append((c.path, result))
        if meta:
            index.excluded_meta[c.path] = meta
    return index


def _check_args(root: str | os.PathLike, lists: ListSpec, min_frames: int) -> tuple[str, ListSpec]:
    """The absolute root, and ``lists`` with absolute paths, after checking that they exist."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise DatasetError(f"dataset root not found: {root}")
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
    """Probe every candidate file of the dataset at ``root``; DatasetError if none is usable."""
    root, lists = _check_args(root, ListSpec(csv, annotations, split, subset), min_frames)
    layout = resolve_layout(root, lists, layout, None)
    options = {"workers": workers, "progress": progress, "min_frames": min_frames, "verify": verify}
    return _require_videos(_build(root, lists=lists, layout=layout, **options))


def default_index_path(root: str | os.PathLike, layout: str = "auto", lists: ListSpec | None = None) -> str:
    """``<root>/.cvrl_index.json``, hidden so that it is never a candidate file; for a layout read through official
    lists one file per split and subset (``.cvrl_index.ucf101-split1-test.json``), as they share one root."""
    name = DEFAULT_INDEX_NAME
    if layout in LAYOUTS and LAYOUTS[layout].subsets and lists is not None:
        name = name.replace(".json", f".{layout}-split{lists.split}-{lists.subset}.json")
    return os.path.join(os.path.abspath(os.fspath(root)), name)


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
) -> VideoIndex:
    """The saved index at ``index_path`` if still valid, else one rebuilt probing only new or changed files.

    ``verify="full"`` decodes every frame of the files it probes; probes of an earlier ``"first"`` index do not
    count for it, those of a ``"full"`` index count for both. Probes of the usable videos in other indexes of the
    same root beside it count too (the other split or subset of a dataset's official lists).
    """
    root, lists = _check_args(root, ListSpec(csv, annotations, split, subset), min_frames)
    given = os.path.abspath(os.fspath(index_path)) if index_path is not None else None
    layout = resolve_layout(root, lists, layout, given)
    index_path = given or default_index_path(root, layout, lists)
    old = None
    if os.path.exists(index_path):
        try:
            old = VideoIndex.load(index_path)
        except DatasetError as exc:
            if log:
                log(f"rebuilding the index: {exc}")
    same_dataset = old is not None and (old.root, old.layout, old.lists()) == (root, layout, lists)
    reusable = same_dataset and (old.verify == "full" or verify == "first")
    cache = _cached_probes(old) if reusable else None
    siblings = partial(_sibling_probes, index_path, root, verify)  # read only if this index lacks a probe
    options = {"workers": workers, "progress": progress, "min_frames": min_frames, "verify": verify}
    index = _build(root, lists=lists, layout=layout, skip=index_path, cache=cache, more_probes=siblings, **options)
    _require_videos(index)
    if not same_dataset or index.to_dict() != old.to_dict():
        try:
            index.save(index_path)
        except OSError as exc:  # a read-only dataset: the index still serves this run
            (log or warnings.warn)(f"could not save the video index to {index_path} ({exc}); pass another index path")
    return index
