"""A video dataset on disk -> a checked, reusable index of its usable videos (paths, labels, counted frames).

Every candidate file is probed once with PyAV (in parallel): its video packets are counted and its first frame is
decoded, so the training pipeline never meets a file it cannot read, and clip sampling knows the true frame count.
Files that fail are kept in ``excluded`` with a short reason and listed by ``VideoIndex.report()``. The index is
saved as JSON next to the data and reused: only new or changed files are probed again.

Layouts: ``folder`` (``root/<class>/<video>``), ``csv`` (``path,label`` rows), ``kinetics`` (the official
annotation CSV), ``unlabelled`` (every file under root), or ``auto``. CLI::

    python -m cvrl_pl.data.index ROOT [--csv FILE] [--layout auto] [--min-frames N] [--workers N] --out INDEX
"""

from __future__ import annotations

import argparse
import csv as csvlib
import json
import multiprocessing
import os
import posixpath
import re
import stat
import statistics
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import av.logging
from tqdm import tqdm

FORMAT_VERSION = 1
DEFAULT_INDEX_NAME = ".cvrl_index.json"
LAYOUTS = ("auto", "folder", "csv", "kinetics", "unlabelled")
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
# The downloaded .mp4 first, then copies re-encoded by prepare.py.
KINETICS_EXTENSIONS = (".mp4", ".webm", ".mkv")
# Demuxers of still images: FFmpeg opens a .jpg as a one-frame "video", which is not what a video dataset means.
IMAGE_FORMATS = re.compile(r"^(image2|.*_pipe)$")


class DatasetError(ValueError):
    """A dataset that cannot be indexed, with a message naming the root or file at fault."""


@dataclass
class VideoRecord:
    """One usable video: where it is, its label, and what probing found in it."""

    path: str  # relative to the index root, POSIX separators
    label: int  # class id, -1 when unlabelled
    num_frames: int  # counted, never estimated from duration
    fps: float
    codec: str  # FFmpeg codec name: "vp9", "vp8", "h264", "hevc", "mjpeg", ...
    width: int
    height: int
    size: int  # bytes on disk
    mtime_ns: int


@dataclass(frozen=True)
class VideoInfo:
    """What probing a readable video finds."""

    num_frames: int
    fps: float
    codec: str
    width: int
    height: int


@dataclass
class _Candidate:
    """A file the layout lists (it may be missing), with its label and stat; ``reason`` set when already rejected."""

    path: str
    label: int
    size: int = -1
    mtime_ns: int = -1
    reason: str | None = None


@dataclass
class VideoIndex:
    """The usable videos of a dataset root, the class names, and every rejected file with its reason."""

    root: str  # absolute path of the dataset root
    classes: list[str]  # class names; label i is classes[i]; [] when unlabelled
    videos: list[VideoRecord]  # usable videos, sorted by path
    excluded: list[tuple[str, str]]  # (path relative to root, reason) for every rejected file
    layout: str = "unlabelled"  # the resolved layout (never "auto")
    csv: str | None = None  # absolute path of the CSV for the csv and kinetics layouts
    min_frames: int = 1
    # Per excluded path: its stat and, for a readable but too short video, its probe; what reuse needs.
    excluded_meta: dict[str, dict] = field(default_factory=dict, repr=False)

    def abspath(self, i: int) -> str:
        """Absolute path of video ``i``."""
        return _abs(self.root, self.videos[i].path)

    def to_dict(self) -> dict:
        return {
            "format": "cvrl_pl.video_index",
            "version": FORMAT_VERSION,
            "root": self.root,
            "layout": self.layout,
            "csv": self.csv,
            "min_frames": self.min_frames,
            "classes": list(self.classes),
            "videos": [asdict(v) for v in self.videos],
            "excluded": [{"path": p, "reason": r, **self.excluded_meta.get(p, {})} for p, r in self.excluded],
        }

    @classmethod
    def from_dict(cls, data: dict) -> VideoIndex:
        if data.get("format") != "cvrl_pl.video_index" or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a version {FORMAT_VERSION} cvrl_pl video index")
        meta_keys = ("size", "mtime_ns", "info")
        return cls(
            root=data["root"],
            classes=list(data["classes"]),
            videos=[VideoRecord(**v) for v in data["videos"]],
            excluded=[(e["path"], e["reason"]) for e in data["excluded"]],
            layout=data["layout"],
            csv=data["csv"],
            min_frames=int(data["min_frames"]),
            excluded_meta={e["path"]: {k: e[k] for k in meta_keys if k in e} for e in data["excluded"]},
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON atomically: a temporary file in the same folder, then ``os.replace``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.to_dict(), f, indent=1)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> VideoIndex:
        """Read an index written by ``save``; DatasetError if it is missing or not a valid index."""
        try:
            with open(path) as f:
                return cls.from_dict(json.load(f))
        except FileNotFoundError:
            raise DatasetError(f"index file not found: {path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: not a valid video index: {exc}") from exc

    def report(self) -> str:
        """A human summary: counts, codecs, frame counts, and one line per excluded file with its reason."""
        lines = [
            f"video index of {self.root} (layout {self.layout}"
            + (f", csv {self.csv}" if self.csv else "")
            + (f", {len(self.classes)} classes" if self.classes else "")
            + f"): {len(self.videos)} usable videos, {len(self.excluded)} excluded"
        ]
        if self.videos:
            codecs = Counter(v.codec for v in self.videos)
            frames = [v.num_frames for v in self.videos]
            fps = [v.fps for v in self.videos]
            lines.append("  codecs: " + ", ".join(f"{c} {n}" for c, n in sorted(codecs.items())))
            lines.append(
                f"  frames: {min(frames)} to {max(frames)} (median {statistics.median(frames):g}, total {sum(frames)})"
            )
            lines.append(f"  fps: {min(fps):g} to {max(fps):g}")
            short = [min(v.width, v.height) for v in self.videos]
            lines.append(f"  short side: {min(short)} to {max(short)} pixels")
            if self.classes:
                labelled = Counter(v.label for v in self.videos)
                empty = [c for i, c in enumerate(self.classes) if not labelled[i]]
                if empty:
                    shown = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
                    lines.append(f"  classes without a usable video: {len(empty)} ({shown})")
        if self.excluded:
            reasons = Counter(r.split(":")[0] for _, r in self.excluded)
            lines.append("excluded (" + ", ".join(f"{r} {n}" for r, n in reasons.most_common()) + "):")
            lines.extend(f"  {p}: {r}" for p, r in self.excluded)
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------
# Probing


def _first_line(text: str) -> str:
    return (str(text).strip().splitlines() or ["unknown error"])[0].strip()


def _error_text(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's '[Errno N]' prefix and file name suffix."""
    strerror = getattr(exc, "strerror", None)
    return _first_line(strerror if strerror else str(exc) or type(exc).__name__)


def open_video(path: str) -> av.container.InputContainer | str:
    """The opened container, or a reason. FFmpeg's log tells a known but broken container from an unknown format."""
    level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)  # only around open: logging from decoder threads can deadlock
    av.logging.set_skip_repeated(False)
    try:
        with av.logging.Capture() as logs:
            try:
                return av.open(path, metadata_errors="ignore")
            except av.FFmpegError as exc:
                demuxer_errors = [m for lvl, name, m in logs if lvl <= av.logging.ERROR and name]
                if demuxer_errors:  # a demuxer accepted the file, then failed on it
                    return f"corrupt: {_first_line(demuxer_errors[0])}"
                if isinstance(exc, av.InvalidDataError):  # no demuxer recognised it
                    return "not a video"
                return f"corrupt: {_error_text(exc)}"
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(skip)


def _count_and_check(container: av.container.InputContainer) -> VideoInfo | str:
    """Count the video packets that carry a frame, and decode the first frame to prove the stream decodes."""
    if IMAGE_FORMATS.match(container.format.name):
        return "not a video"
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        return "not a video"
    stream = streams[0]
    context = stream.codec_context
    context.thread_count = 1  # probes run one per core already
    first = None
    count = 0
    for packet in container.demux(stream):
        # Empty packets are flushes; a corrupt one is the cut-off tail of a truncated file, which does not decode.
        if packet.size == 0 or packet.is_corrupt:
            continue
        count += 1
        if first is None:
            try:
                frames = context.decode(packet)
            except av.FFmpegError as exc:
                return f"corrupt: cannot decode the first frame: {_error_text(exc)}"
            first = frames[0] if frames else None
    if count == 0:
        return "corrupt: no video frames"
    if first is None:  # decoders with a delay give their first frame at the flush
        frames = context.decode(None)
        if not frames:
            return "corrupt: no frame decodes"
        first = frames[0]
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    return VideoInfo(count, fps, context.codec.canonical_name, first.width, first.height)


def probe_video(path: str | os.PathLike) -> VideoInfo | str:
    """Probe one file: its VideoInfo, or the reason it is not usable. Never raises for a bad file."""
    path = os.fspath(path)
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        container = open_video(path)
        if isinstance(container, str):
            return container
        with container:
            return _count_and_check(container)
    except av.FFmpegError as exc:
        return f"corrupt: {_error_text(exc)}"
    except Exception as exc:  # an unreadable file must become a reason, never stop the indexing
        return f"corrupt: {type(exc).__name__}: {_first_line(str(exc))}"


def _probe_all(paths: list[str], workers: int | None = None, progress: bool = True) -> list[VideoInfo | str]:
    """``probe_video`` over ``paths`` in order, in a process pool (spawned: safe from a threaded parent)."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths)))
    bar = tqdm(total=len(paths), desc="probing videos", unit="video", disable=not progress, dynamic_ncols=True)
    results: list[VideoInfo | str] = []
    with bar:
        if workers == 1:
            for path in paths:
                results.append(probe_video(path))
                bar.update()
            return results
        chunksize = max(1, min(64, len(paths) // (workers * 8)))
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for result in pool.map(probe_video, paths, chunksize=chunksize):
                results.append(result)
                bar.update()
    return results


# ----------------------------------------------------------------------------------------------------------------
# Layouts: each gives the candidate files with their labels, and the class names.


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _walk_files(top: str, skip: str | None) -> list[str]:
    """Absolute paths of the visible regular files under ``top``, at any depth, in sorted order."""
    found = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if _visible(name) and path != skip and os.path.isfile(path):
                found.append(path)
    return found


def _abs(root: str, rel: str) -> str:
    return os.path.join(root, *rel.split("/"))


def _rel(root: str, path: str) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _resolve_layout(root: str, csv: str | None, layout: str, skip: str | None) -> str:
    """The layout ``auto`` stands for: from the CSV header if a CSV is given, else from the folder structure."""
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown dataset layout '{layout}'; choose one of {', '.join(LAYOUTS)}")
    if layout in ("csv", "kinetics") and csv is None:
        raise DatasetError(f"layout '{layout}' needs a CSV file (--csv)")
    if layout in ("folder", "unlabelled") and csv is not None:
        raise DatasetError(f"layout '{layout}' does not use a CSV file, but one was given: {csv}")
    if layout != "auto":
        return layout
    if csv is not None:
        with open(csv, newline="", encoding="utf-8-sig") as f:
            header = next(csvlib.reader(f), [])
        return "kinetics" if "youtube_id" in [h.strip() for h in header] else "csv"
    entries = [e for e in os.scandir(root) if _visible(e.name) and e.path != skip]
    dirs = [e.path for e in entries if e.is_dir()]
    if not dirs or any(not e.is_dir() for e in entries):
        return "unlabelled"
    direct = [[e for e in os.scandir(d) if _visible(e.name)] for d in dirs]
    if all(any(e.is_file() for e in es) or not es for es in direct) and any(direct):
        return "folder"
    return "unlabelled"


def _folder(root: str, skip: str | None) -> tuple[list[str], list[_Candidate]]:
    """``root/<class>/...``: classes are the sorted sub-folders; a file directly in root has no class."""
    entries = sorted((e for e in os.scandir(root) if _visible(e.name)), key=lambda e: e.name)
    classes = [e.name for e in entries if e.is_dir()]
    found = [
        _Candidate(_rel(root, e.path), -1, reason="not in a class folder")
        for e in entries
        if e.is_file() and e.path != skip
    ]
    for label, name in enumerate(classes):
        found += [_Candidate(_rel(root, p), label) for p in _walk_files(os.path.join(root, name), skip)]
    return classes, found


def _unlabelled(root: str, skip: str | None) -> tuple[list[str], list[_Candidate]]:
    return [], [_Candidate(_rel(root, p), -1) for p in _walk_files(root, skip)]


def _csv_rows(csv: str) -> Iterable[tuple[int, list[str]]]:
    """(line number, stripped fields) of the non-blank rows of a CSV file."""
    with open(csv, newline="", encoding="utf-8-sig") as f:
        reader = csvlib.reader(f)
        for row in reader:
            fields = [x.strip() for x in row]
            if any(fields):
                yield reader.line_num, fields


def _clean_rel(csv: str, line: int, path: str) -> str:
    """A CSV path as a normalised POSIX path inside root."""
    rel = posixpath.normpath(path.replace("\\", "/"))
    if posixpath.isabs(rel) or rel == ".." or rel.startswith("../"):
        raise DatasetError(f"{csv}, line {line}: path '{path}' is not relative to the dataset root")
    return rel


def _add(found: dict[str, tuple[int, str]], csv: str, line: int, rel: str, name: str) -> None:
    """Record a row; a file listed twice must have one label."""
    if rel in found and found[rel][1] != name:
        raise DatasetError(f"{csv}, line {line}: {rel} is listed again with another label ('{name}')")
    found.setdefault(rel, (line, name))


def _labels(names: list[str]) -> tuple[list[str], dict[str, int]]:
    """Classes and label ids: integers keep their value (classes are their string forms), names are sorted."""
    if names and all(re.fullmatch(r"\d+", n) for n in names):
        ids = {n: int(n) for n in names}
        return [str(i) for i in range(max(ids.values()) + 1)], ids
    classes = sorted(set(names))
    return classes, {n: i for i, n in enumerate(classes)}


def _csv_layout(root: str, csv: str) -> tuple[list[str], list[_Candidate]]:
    """``path,label`` rows (optional header); the label is a class name or an integer."""
    found: dict[str, tuple[int, str]] = {}
    for line, fields in _csv_rows(csv):
        if [x.lower() for x in fields] == ["path", "label"] and not found:
            continue
        if len(fields) != 2 or not all(fields):
            raise DatasetError(f"{csv}, line {line}: expected 'path,label', got {','.join(fields)!r}")
        _add(found, csv, line, _clean_rel(csv, line, fields[0]), fields[1])
    classes, ids = _labels([name for _, name in found.values()])
    return classes, [_Candidate(rel, ids[name]) for rel, (_, name) in found.items()]


def _kinetics_name(csv: str, line: int, row: dict[str, str]) -> str:
    """``<youtube_id>_<time_start:06d>_<time_end:06d>``, as the Kinetics download scripts name a clip."""
    try:
        start, end = (int(float(row[k])) for k in ("time_start", "time_end"))
    except (TypeError, ValueError):
        raise DatasetError(f"{csv}, line {line}: time_start/time_end must be numbers, got {row}") from None
    if not row["youtube_id"] or not row["split"] or not row["label"]:
        raise DatasetError(f"{csv}, line {line}: empty label, youtube_id or split in {row}")
    return f"{row['youtube_id']}_{start:06d}_{end:06d}"


def _kinetics_folders(row: dict[str, str]) -> list[str]:
    """Where a clip may be: ``<split>/<label>``, with spaces in the label as underscores, or flat in ``<split>``."""
    split, label = row["split"], row["label"]
    return list(dict.fromkeys([f"{split}/{label}", f"{split}/{label.replace(' ', '_')}", split]))


def _kinetics_layout(root: str, csv: str) -> tuple[list[str], list[_Candidate]]:
    """The official annotation CSV; a row's file is ``<split>/<label>/<stem>.mp4`` (or .webm/.mkv, re-encoded)."""
    listings: dict[str, set[str]] = {}

    def listing(folder: str) -> set[str]:
        if folder not in listings:
            full = os.path.join(root, *folder.split("/"))
            listings[folder] = {n for n in os.listdir(full) if _visible(n)} if os.path.isdir(full) else set()
        return listings[folder]

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
            stem = _kinetics_name(csv, reader.line_num, row)
            rel = f"{row['split']}/{row['label']}/{stem}.mp4"  # the expected name, reported if there is no file
            names = (f"{d}/{stem}{e}" for d in _kinetics_folders(row) for e in KINETICS_EXTENSIONS)
            rel = next((n for n in names if posixpath.basename(n) in listing(posixpath.dirname(n))), rel)
            _add(found, csv, reader.line_num, rel, row["label"])
    classes = sorted({name for _, name in found.values()})
    ids = {n: i for i, n in enumerate(classes)}
    return classes, [_Candidate(rel, ids[name]) for rel, (_, name) in found.items()]


def _candidates(root: str, layout: str, csv: str | None, skip: str | None) -> tuple[list[str], list[_Candidate]]:
    """Classes and candidate files of a resolved layout, sorted by path, with their stat (or the reason 'missing')."""
    if layout == "folder":
        classes, found = _folder(root, skip)
    elif layout == "unlabelled":
        classes, found = _unlabelled(root, skip)
    elif layout == "csv":
        classes, found = _csv_layout(root, csv)
    else:
        classes, found = _kinetics_layout(root, csv)
    for c in found:
        try:
            st = os.stat(_abs(root, c.path))
        except OSError:
            c.reason = c.reason or "missing"
            continue
        c.size, c.mtime_ns = st.st_size, st.st_mtime_ns
        if not stat.S_ISREG(st.st_mode):
            c.reason = c.reason or "not a file"
    return classes, sorted(found, key=lambda c: c.path)


# ----------------------------------------------------------------------------------------------------------------
# Building and reuse


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
    csv: str | None,
    layout: str,
    workers: int | None,
    progress: bool,
    min_frames: int,
    skip: str | None = None,
    cache: dict[str, tuple[int, int, VideoInfo | str]] | None = None,
) -> VideoIndex:
    """The index of ``root``, probing only the candidates whose (size, mtime) is not in ``cache``."""
    classes, found = _candidates(root, layout, csv, skip)
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
        probed = _probe_all([_abs(root, p) for p in todo], workers, progress)
        results.update(zip(todo, probed, strict=True))

    index = VideoIndex(root, classes, [], [], layout=layout, csv=csv, min_frames=min_frames)
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
    csv: str | os.PathLike | None = None,
    layout: str = "auto",
    workers: int | None = None,
    progress: bool = True,
    min_frames: int = 1,
) -> VideoIndex:
    """Probe every candidate file of the dataset at ``root``; DatasetError if none is usable."""
    root, csv = _check_args(root, csv, min_frames)
    layout = _resolve_layout(root, csv, layout, None)
    return _require_videos(_build(root, csv, layout, workers, progress, min_frames))


def default_index_path(root: str | os.PathLike) -> str:
    """``<root>/.cvrl_index.json``: hidden, so it is never a candidate file."""
    return os.path.join(os.path.abspath(os.fspath(root)), DEFAULT_INDEX_NAME)


def load_or_build_index(
    root: str | os.PathLike,
    index_path: str | os.PathLike | None = None,
    csv: str | os.PathLike | None = None,
    layout: str = "auto",
    workers: int | None = None,
    progress: bool = True,
    min_frames: int = 1,
    log: Callable[[str], None] | None = None,
) -> VideoIndex:
    """The saved index at ``index_path`` if still valid, else one rebuilt probing only new or changed files."""
    root, csv = _check_args(root, csv, min_frames)
    index_path = os.path.abspath(os.fspath(index_path)) if index_path is not None else default_index_path(root)
    layout = _resolve_layout(root, csv, layout, index_path)
    old = None
    if os.path.exists(index_path):
        try:
            old = VideoIndex.load(index_path)
        except DatasetError as exc:
            if log:
                log(f"rebuilding the index: {exc}")
    same_dataset = old is not None and (old.root, old.layout, old.csv) == (root, layout, csv)
    cache = _cached_probes(old) if same_dataset else None
    index = _build(root, csv, layout, workers, progress, min_frames, skip=index_path, cache=cache)
    _require_videos(index)
    if not same_dataset or index.to_dict() != old.to_dict():
        try:
            index.save(index_path)
        except OSError as exc:  # a read-only dataset: the index still serves this run
            (log or warnings.warn)(f"could not save the video index to {index_path} ({exc}); pass another index path")
    return index


# ----------------------------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cvrl_pl.data.index",
        description="Index a video dataset: probe every file, count frames, report unusable files, save JSON.",
    )
    parser.add_argument("root", help="dataset root")
    parser.add_argument("--csv", help="CSV listing the videos: 'path,label' rows, or a Kinetics annotation file")
    parser.add_argument("--layout", default="auto", choices=LAYOUTS, help="dataset layout (default: auto)")
    parser.add_argument("--min-frames", type=int, default=1, help="exclude videos with fewer frames (default: 1)")
    parser.add_argument("--workers", type=int, default=None, help="probing processes (default: CPU count)")
    parser.add_argument("--out", help=f"index file to write or reuse (default: ROOT/{DEFAULT_INDEX_NAME})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        index = load_or_build_index(
            args.root,
            index_path=args.out,
            csv=args.csv,
            layout=args.layout,
            workers=args.workers,
            progress=not args.quiet,
            min_frames=args.min_frames,
            log=lambda msg: print(msg, file=sys.stderr),
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(index.report())
    print(f"index: {os.path.abspath(args.out) if args.out else default_index_path(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
