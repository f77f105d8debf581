"""The index of a dataset: its usable videos (path, label, counted frames, codec, size, keyframes), its classes,
and every rejected file with its reason; saved as a folder of memory-mapped columns (columns.py, store.py)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from cvrl_pl.data.index.columns import MANIFEST, MappedColumn, Ragged, Spec, Strings, open_tables, read_manifest
from cvrl_pl.data.layouts.files import ListSpec, abspath
from cvrl_pl.errors import DatasetError
from dali_pipelines.decoders import decoder_counts, decoder_for, generation

# Version 2 added each video's stream format (profile, pixel format, bit depth, chroma), which decoder routing
# needs; version 3 is the columnar folder with each video's keyframes. An index of another version is never misread
# but probed again, with a message saying why (build.load_or_build_index).
FORMAT_VERSION = 3
FORMAT_NAME = "cvrl_pl.video_index"
DEFAULT_INDEX_NAME = ".cvrl_index"  # a folder
CATEGORIES = ("codec", "profile", "pix_fmt", "chroma")  # strings stored as small codes into a vocabulary
CHUNK = 1 << 20  # videos per step of a whole-index computation, which then needs no index-long temporaries

SCHEMA = {
    "videos": {
        "dir": Spec("<i4"),  # row of the dirs table
        "name": Spec("u1", ragged=True),  # file name in its folder
        "label": Spec("<i4"),
        "num_frames": Spec("<i4"),
        "fps": Spec("<f8"),
        "width": Spec("<i4"),
        "height": Spec("<i4"),
        **{name: Spec("<i2") for name in CATEGORIES},
        "bit_depth": Spec("<i2"),
        "size": Spec("<i8"),
        "mtime_ns": Spec("<i8"),
        "keyframes": Spec("<i4", ragged=True),  # display indices of the keyframes
        "keyframe_pts": Spec("<i8", ragged=True),  # their timestamps in the stream's time base
    },
    "dirs": {"name": Spec("u1", ragged=True)},  # folder of videos, relative to the root ("" for the root itself)
    "excluded": {
        "path": Spec("u1", ragged=True),
        "reason": Spec("u1", ragged=True),
        "size": Spec("<i8"),  # -1: not a file
        "mtime_ns": Spec("<i8"),
        "info": Spec("u1", ragged=True),  # a too-short video's probe as JSON, else empty
    },
}


@dataclass(frozen=True)
class VideoInfo:
    """What probing a readable video finds."""

    num_frames: int
    fps: float
    codec: str
    width: int
    height: int
    profile: str
    pix_fmt: str
    bit_depth: int
    chroma: str
    keyframes: tuple[int, ...] = ()  # display indices of the frames a decoder can start at (the first is 0)
    keyframe_pts: tuple[int, ...] = ()  # their timestamps, to seek the demuxer to them


@dataclass
class VideoRecord:
    """One usable video: where it is, its label, what probing found in it, and the file's stat when probed."""

    path: str  # relative to the index root, POSIX separators
    label: int  # class id, -1 when unlabelled
    num_frames: int  # counted, never estimated from duration
    fps: float
    codec: str  # FFmpeg codec name: "vp9", "vp8", "h264", "hevc", "mjpeg", ...
    width: int
    height: int
    profile: str  # FFmpeg's name of the codec profile: "High", "High 10", "High 4:4:4 Predictive", "Profile 2", ...
    pix_fmt: str  # of the decoded frames: "yuv420p", "yuv420p10le", "yuvj422p", ...
    bit_depth: int  # bits per luma sample
    chroma: str  # chroma subsampling: "4:2:0", "4:2:2", "4:4:4", "4:0:0" (grey), "rgb", ...
    size: int  # bytes on disk
    mtime_ns: int
    keyframes: tuple[int, ...] = ()
    keyframe_pts: tuple[int, ...] = ()

    def info(self) -> VideoInfo:
        """What probing found in this video."""
        return VideoInfo(**{f.name: getattr(self, f.name) for f in fields(VideoInfo)})


class RelativePaths(Sequence[str]):
    """Each video's path relative to the root, from the dirs table and the file names (each folder stored once)."""

    def __init__(self, dirs: Strings, dir_ids: MappedColumn, names: Strings, root: str = ""):
        self.dirs, self.dir_ids, self.names, self.root = dirs, dir_ids, names, root

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        folder, name = self.dirs[int(self.dir_ids[i])], self.names[i]
        path = f"{folder}/{name}" if folder else name
        return abspath(self.root, path) if self.root else path

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def absolute(self, root: str) -> RelativePaths:
        """The same paths under ``root`` (picklable by file name, like the columns)."""
        return RelativePaths(self.dirs, self.dir_ids, self.names, root)


class VideoColumns(Sequence[VideoRecord]):
    """The usable videos of an index, column by column, memory-mapped from its folder: ``videos[i]`` is video i's
    VideoRecord; ``videos.column(name)`` a whole column as a numpy array, for vectorised use."""

    def __init__(self, columns: dict, dirs: Strings, vocab: dict[str, list[str]]):
        self.columns, self.vocab = columns, vocab
        self.paths = RelativePaths(dirs, columns["dir"], columns["name"])

    def __len__(self) -> int:
        return len(self.paths)

    def column(self, name: str) -> np.ndarray:
        """A fixed column as an array (for a category: the strings, as an object array)."""
        values = np.asarray(self.columns[name])
        if name in CATEGORIES:
            return np.asarray(self.vocab[name], object)[values] if len(values) else np.empty(0, object)
        return values

    def ragged(self, name: str) -> Ragged:
        return self.columns[name]

    def take(self, rows: np.ndarray) -> VideoColumns:
        """Videos ``rows`` (in that order), their columns in memory."""
        rows = np.asarray(rows, np.int64)
        taken = {k: c.take(rows) if isinstance(c, Ragged) else np.asarray(c)[rows] for k, c in self.columns.items()}
        return VideoColumns(taken, self.paths.dirs, self.vocab)

    def __getitem__(self, i: int | slice) -> VideoRecord | list[VideoRecord]:  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"video {i} of {len(self)}")
        i %= len(self)
        values = {}
        for f in fields(VideoRecord):
            if f.name == "path":
                values["path"] = self.paths[i]
            elif f.name in CATEGORIES:
                values[f.name] = self.vocab[f.name][int(self.columns[f.name][i])]
            elif isinstance(self.columns[f.name], Ragged):
                values[f.name] = tuple(self.columns[f.name][i].tolist())
            else:
                values[f.name] = self.columns[f.name][i].item()
        return VideoRecord(**values)

    def __iter__(self) -> Iterator[VideoRecord]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VideoColumns) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class VideoIndex:
    """The usable videos of a dataset root, the class names, and every rejected file with its reason."""

    root: str  # absolute path of the dataset root
    classes: list[str]  # class names; label i is classes[i]; [] when unlabelled
    videos: VideoColumns  # usable videos, sorted by path
    excluded: list[tuple[str, str]]  # (path relative to root, reason) for every rejected file
    layout: str = "unlabelled"  # the resolved layout (never "auto")
    csv: str | None = None  # absolute path of the CSV for the csv and kinetics layouts
    annotations: str | None = None  # absolute path of the official lists (ucf101, hmdb51, ssv2, charades)
    split: int = 1  # the official split of the lists it was built from
    subset: str | None = None  # the subset of the split: train, test or validation
    min_frames: int = 1
    verify: str = "first"  # how much of each file probing decoded: "first" frame or "full"
    folder: str = ""  # where it is saved
    # Per excluded path: its stat and, for a readable but too short video, its probe; what reuse needs.
    excluded_meta: dict[str, dict] = field(default_factory=dict, repr=False)

    def lists(self) -> ListSpec:
        """Which list of the dataset this index was built from."""
        return ListSpec(self.csv, self.annotations, self.split, self.subset)

    def abspath(self, i: int) -> str:
        """Absolute path of video ``i``."""
        return abspath(self.root, self.videos.paths[i])

    def description(self) -> dict:
        """What the index was built from (its manifest's meta, beside the columns)."""
        options = {"layout": self.layout, "min_frames": self.min_frames, "verify": self.verify, **vars(self.lists())}
        return index_description(self.root, self.classes, **options)

    def to_dict(self) -> dict:
        """Everything in the index as one JSON-ready object (for small indexes: a list entry per video)."""
        excluded = [{"path": p, "reason": r, **self.excluded_meta.get(p, {})} for p, r in self.excluded]
        return {**self.description(), "videos": [asdict(v) for v in self.videos], "excluded": excluded}

    @classmethod
    def load(cls, path: str | os.PathLike, *, unfinished: bool = False) -> VideoIndex:
        """Open a saved index (its columns memory-mapped); DatasetError if it is missing, not an index of this
        version, or (unless ``unfinished``: a killed build's committed part) unfinished."""
        path = Path(path)
        problem = describe_saved(path)
        if problem == NOTHING:
            raise DatasetError(f"index not found: {path}")
        if problem and not (unfinished and problem == UNFINISHED):
            raise DatasetError(f"{path}: {problem}")
        try:
            meta, tables = open_tables(path)
            excluded = tables["excluded"]
            rows = range(len(excluded["reason"]))
            infos = [excluded["info"][i] for i in rows]
            return cls(
                root=meta["root"],
                classes=list(meta["classes"]),
                videos=VideoColumns(tables["videos"], tables["dirs"]["name"], meta["vocab"]),
                excluded=[(excluded["path"][i], excluded["reason"][i]) for i in rows],
                layout=meta["layout"],
                csv=meta["csv"],
                annotations=meta["annotations"],
                split=int(meta["split"]),
                subset=meta["subset"],
                min_frames=int(meta["min_frames"]),
                verify=meta["verify"],
                folder=str(path.resolve()),
                excluded_meta={
                    excluded["path"][i]: {
                        "size": int(excluded["size"][i]),
                        "mtime_ns": int(excluded["mtime_ns"][i]),
                        **({"info": json.loads(infos[i])} if infos[i] else {}),
                    }
                    for i in rows
                    if excluded["size"][i] >= 0
                },
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: not a valid video index: {exc}") from exc

    def stream_formats(self) -> tuple[list[dict], np.ndarray]:
        """The distinct stream formats (codec, profile, pix_fmt, bit_depth, chroma) of the videos, and per video the
        one it has: grouped column-wise, so a 10M-video index takes no per-video Python."""
        names = (*CATEGORIES, "bit_depth")
        n = len(self.videos)
        which = np.empty(n, np.int32)
        keys: dict[int, int] = {}  # packed codes -> format number
        for start in range(0, n, CHUNK):  # in chunks: no 10M-long temporaries
            stop = min(n, start + CHUNK)
            key = np.zeros(stop - start, np.int64)  # the five small codes packed into one number per video
            for name in names:
                key = (key << 12) | np.asarray(self.videos.columns[name][start:stop], np.int64)
            distinct, inverse = np.unique(key, return_inverse=True)
            numbers = [keys.setdefault(k, len(keys)) for k in distinct.tolist()]
            which[start:stop] = np.asarray(numbers, np.int32)[inverse.reshape(-1)]
        formats = []
        for packed in keys:
            codes = [(packed >> (12 * (len(names) - 1 - k))) & 0xFFF for k in range(len(names))]
            formats.append(
                {n: (self.videos.vocab[n][c] if n in CATEGORIES else c) for n, c in zip(names, codes, strict=True)}
            )
        return formats, which

    def decoders(self, capability: tuple[int, int] | None) -> np.ndarray:
        """Per video, the code of the decoder that reads it on a GPU of compute ``capability`` (None: on a CPU)."""
        formats, which = self.stream_formats()
        return _routes(formats, capability)[which]

    def summary(self, capability: tuple[int, int] | None) -> dict:
        """The report's figures as one JSON-ready object, for scripts (keep its keys stable): ``layout``,
        ``classes`` (their number), ``videos``, ``excluded``, ``decoders`` (name -> videos it takes on that
        device), ``device``, ``gpu_capability``, ``gpu_generation``, ``codecs`` and ``formats``."""
        formats, which = self.stream_formats()  # once: the decoder counts come per format, not per video
        counts = np.bincount(which, minlength=len(formats)).tolist()
        codecs: Counter[str] = Counter()
        named: Counter[str] = Counter()
        for f, n in zip(formats, counts, strict=True):
            codecs[f["codec"]] += n
            named[format_name(f)] += n
        return {
            "root": self.root,
            "layout": self.layout,
            "classes": len(self.classes),
            "videos": len(self.videos),
            "excluded": len(self.excluded),
            "decoders": decoder_counts(np.repeat(_routes(formats, capability), counts)),
            "device": "cpu" if capability is None else "gpu",
            "gpu_capability": None if capability is None else "{}.{}".format(*capability),
            "gpu_generation": None if capability is None else generation(capability).name,
            "codecs": dict(sorted(codecs.items())),
            "formats": dict(sorted(named.items())),
        }

    def report(self, capability: tuple[int, int] | None = None) -> str:
        """A human summary: counts, codecs and formats, which decoder takes how many videos on a GPU of compute
        ``capability`` (None: on a CPU), frame counts, and one line per excluded file with its reason."""
        lines = [
            f"video index of {self.root} (layout {self.layout}"
            + (f", csv {self.csv}" if self.csv else "")
            + (f", {self.annotations} split {self.split} {self.subset}" if self.annotations else "")
            + (f", {len(self.classes)} classes" if self.classes else "")
            + f"): {len(self.videos)} usable videos, {len(self.excluded)} excluded"
        ]
        if self.videos:
            summary = self.summary(capability)
            frames, fps = self.videos.column("num_frames"), self.videos.column("fps")
            lines.append("  codecs: " + ", ".join(f"{c} {n}" for c, n in summary["codecs"].items()))
            lines.append("  formats: " + ", ".join(f"{f} {n}" for f, n in summary["formats"].items()))
            lines.append(f"  decoders {decoders_where(capability)}: " + counts_text(summary["decoders"]))
            lines.append(
                f"  frames: {frames.min()} to {frames.max()} (median {np.median(frames):g}, "
                f"total {frames.sum(dtype=np.int64)})"
            )
            lines.append(f"  fps: {fps.min():g} to {fps.max():g}")
            short = np.minimum(self.videos.column("width"), self.videos.column("height"))
            lines.append(f"  short side: {short.min()} to {short.max()} pixels")
            labels = self.videos.column("label")
            if self.classes and (labels >= 0).any():  # a multi-label dataset (charades) labels every video -1
                labelled = np.bincount(labels[labels >= 0], minlength=len(self.classes))
                empty = [c for i, c in enumerate(self.classes) if not labelled[i]]
                if empty:
                    shown = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
                    lines.append(f"  classes without a usable video: {len(empty)} ({shown})")
        if self.excluded:
            reasons = Counter(r.split(":")[0] for _, r in self.excluded)
            lines.append("excluded (" + ", ".join(f"{r} {n}" for r, n in reasons.most_common()) + "):")
            lines.extend(f"  {p}: {r}" for p, r in self.excluded)
        return "\n".join(lines)


def format_name(v: VideoRecord | dict) -> str:
    """A video's stream format in one word-group: "h264 High 10 yuv420p10le"."""
    parts = (v["codec"], v["profile"], v["pix_fmt"]) if isinstance(v, dict) else (v.codec, v.profile, v.pix_fmt)
    return " ".join(part for part in parts if part)


def index_description(root: str, classes: list[str], **options) -> dict:
    """An index's meta: format, version, root, classes, and ``options`` (layout, lists, min_frames, verify)."""
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root, "classes": list(classes), **options}


UNFINISHED = "an unfinished build"
NOTHING = "no index there"


def describe_saved(path: str | os.PathLike) -> str:
    """Why the index at ``path`` cannot be opened as it is, or "" when it can: missing, unfinished, another format
    or version (an index of cvrl-pl before version 3 is one JSON file)."""
    path = Path(path)
    if not path.exists():
        return NOTHING
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(4096).decode(errors="replace")
        found = re.search(r'"version":\s*(\d+)', head)
        if '"cvrl_pl.video_index"' not in head or not found:
            return "not a cvrl_pl video index"
        return f"a version {found[1]} index (one JSON file, without keyframes)"
    try:
        meta = read_manifest(path)["meta"]
    except (OSError, ValueError, KeyError):
        return f"not a cvrl_pl video index (no readable {MANIFEST})"
    if meta.get("format") != FORMAT_NAME:
        return "not a cvrl_pl video index"
    if meta.get("version") != FORMAT_VERSION:
        return f"a version {meta.get('version')} index (this cvrl-pl reads version {FORMAT_VERSION})"
    if not meta.get("complete"):
        return UNFINISHED
    return ""


def _routes(formats: list[dict], capability: tuple[int, int] | None) -> np.ndarray:
    """The decoder code of each stream format (records.VideoIndex.stream_formats) on that device."""
    return np.asarray([decoder_for(f["codec"], f["bit_depth"], f["chroma"], capability) for f in formats], np.int8)


def decoders_where(capability: tuple[int, int] | None) -> str:
    """Where the decoder counts hold: "on a CPU", "on a GPU of compute capability 9.0 (Hopper (H100, H200))"."""
    if capability is None:
        return "on a CPU"
    return "on a GPU of compute capability {}.{} ({})".format(*capability, generation(capability).name)


def counts_text(counts: dict[str, int]) -> str:
    """{"nvdec": 3, "dali_cpu": 0, "pyav": 1} -> "nvdec 3, dali_cpu 0, pyav 1"."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())
