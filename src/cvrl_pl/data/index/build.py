"""Building an index, and reusing a saved one: only new or changed files (by size and mtime) are probed again, so
re-indexing a large dataset after adding a few videos takes seconds."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import asdict

from cvrl_pl.data.index.probe import probe_all
from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME, VideoIndex, VideoInfo, VideoRecord
from cvrl_pl.data.layouts import list_candidates, resolve_layout
from cvrl_pl.data.layouts.files import abspath
from cvrl_pl.errors import DatasetError


def _cached_probes(old: VideoIndex) -> dict[str, tuple[int, int, VideoInfo | str]]:
    """path -> (size, mtime_ns, probe result) of every file an earlier index probed."""
    cache: dict[str, tuple[int, int, VideoInfo | str]] = {}
    for v in old.videos:
        cache[v.path] = (v.size, v.mtime_ns, VideoInfo(v.num_frames, v.fps, v.codec, v.width, v.height))
    for path, reason in old.excluded:
        meta = old.excluded_meta.get(path, {})
        if "size" in meta and "mtime_ns" in meta:
            result = VideoInfo(**meta["info"]) if "info" in meta else reason
            cache[path] = (meta["size"], meta["mtime_ns"], result)
    return cache


def _build(
    root: str,
    *,
    csv: str | None,
    layout: str,
    workers: int | None,
    progress: bool,
    min_frames: int,
    verify: str = "first",
    skip: str | None = None,
    cache: dict[str, tuple[int, int, VideoInfo | str]] | None = None,
) -> VideoIndex:
    """The index of ``root``, probing only the candidates whose (size, mtime) is not in ``cache``."""
    classes, found = list_candidates(root, layout, csv, skip)
    cache = cache or {}
    results: dict[str, VideoInfo | str] = {}
    todo = []
    for c in found:
        if c.reason is not None:
            results[c.path] = c.reason
        elif c.path in cache and cache[c.path][:2] == (c.size, c.mtime_ns):
            results[c.path] = cache[c.path][2]
        else:
            todo.append(c.path)
    if todo:
        probed = probe_all([abspath(root, p) for p in todo], workers, progress, verify)
        results.update(zip(todo, probed, strict=True))

    index = VideoIndex(root, classes, [], [], layout=layout, csv=csv, min_frames=min_frames, verify=verify)
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


def _check_args(root: str | os.PathLike, csv: str | os.PathLike | None, min_frames: int) -> tuple[str, str | None]:
    """Absolute root and CSV paths, after checking that they exist."""
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise DatasetError(f"dataset root not found: {root}")
    if csv is not None:
        csv = os.path.abspath(os.fspath(csv))
        if not os.path.isfile(csv):
            raise DatasetError(f"CSV file not found: {csv}")
    if min_frames < 1:
        raise DatasetError(f"min_frames must be at least 1, got {min_frames}")
    return root, csv


def _require_videos(index: VideoIndex) -> VideoIndex:
    if not index.videos:
        found = "no files found" if not index.excluded else "every file was rejected"
        raise DatasetError(f"no usable videos in dataset root {index.root} ({found})\n{index.report()}")
    return index


def build_index(
    root: str | os.PathLike,
    *,
    csv: str | os.PathLike | None = None,
    layout: str = "auto",
    workers: int | None = None,
    progress: bool = True,
    min_frames: int = 1,
    verify: str = "first",
) -> VideoIndex:
    """Probe every candidate file of the dataset at ``root``; DatasetError if none is usable."""
    root, csv = _check_args(root, csv, min_frames)
    layout = resolve_layout(root, csv, layout, None)
    options = {"workers": workers, "progress": progress, "min_frames": min_frames, "verify": verify}
    return _require_videos(_build(root, csv=csv, layout=layout, **options))


def default_index_path(root: str | os.PathLike) -> str:
    """``<root>/.cvrl_index.json``: hidden, so it is never a candidate file."""
    return os.path.join(os.path.abspath(os.fspath(root)), DEFAULT_INDEX_NAME)


def load_or_build_index(
    root: str | os.PathLike,
    *,
    index_path: str | os.PathLike | None = None,
    csv: str | os.PathLike | None = None,
    layout: str = "auto",
    verify: str = "first",
    workers: int | None = None,
    progress: bool = True,
    min_frames: int = 1,
    log: Callable[[str], None] | None = None,
) -> VideoIndex:
    """The saved index at ``index_path`` if still valid, else one rebuilt probing only new or changed files.

    ``verify="full"`` decodes every frame of the files it probes; probes of an earlier ``"first"`` index do not
    count for it, those of a ``"full"`` index count for both.
    """
    root, csv = _check_args(root, csv, min_frames)
    index_path = os.path.abspath(os.fspath(index_path)) if index_path is not None else default_index_path(root)
    layout = resolve_layout(root, csv, layout, index_path)
    old = None
    if os.path.exists(index_path):
        try:
            old = VideoIndex.load(index_path)
        except DatasetError as exc:
            if log:
                log(f"rebuilding the index: {exc}")
    same_dataset = old is not None and (old.root, old.layout, old.csv) == (root, layout, csv)
    reusable = same_dataset and (old.verify == "full" or verify == "first")
    cache = _cached_probes(old) if reusable else None
    options = {"workers": workers, "progress": progress, "min_frames": min_frames, "verify": verify}
    index = _build(root, csv=csv, layout=layout, skip=index_path, cache=cache, **options)
    _require_videos(index)
    if not same_dataset or index.to_dict() != old.to_dict():
        try:
            index.save(index_path)
        except OSError as exc:  # a read-only dataset: the index still serves this run
            (log or warnings.warn)(f"could not save the video index to {index_path} ({exc}); pass another index path")
    return index
