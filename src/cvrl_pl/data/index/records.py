"""The index of a dataset: its usable videos (path, label, counted frames, codec, size), its classes, and every
rejected file with its reason; saved as JSON next to the data and read back."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from cvrl_pl.data.layouts.files import ListSpec, abspath
from cvrl_pl.errors import DatasetError
from dali_pipelines.decoders import decoder_counts, decoder_for, generation

# Version 2 added each video's stream format (profile, pixel format, bit depth, chroma), which decoder routing
# needs; an index of another version is not misread but probed again (build.load_or_build_index).
FORMAT_VERSION = 2
DEFAULT_INDEX_NAME = ".cvrl_index.json"


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
    profile: str  # FFmpeg's name of the codec profile: "High", "High 10", "High 4:4:4 Predictive", "Profile 2", ...
    pix_fmt: str  # of the decoded frames: "yuv420p", "yuv420p10le", "yuvj422p", ...
    bit_depth: int  # bits per luma sample
    chroma: str  # chroma subsampling: "4:2:0", "4:2:2", "4:4:4", "4:0:0" (grey), "rgb", ...
    size: int  # bytes on disk
    mtime_ns: int

    def info(self) -> VideoInfo:
        """What probing found in this video."""
        return VideoInfo(**{f.name: getattr(self, f.name) for f in fields(VideoInfo)})


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


@dataclass
class VideoIndex:
    """The usable videos of a dataset root, the class names, and every rejected file with its reason."""

    root: str  # absolute path of the dataset root
    classes: list[str]  # class names; label i is classes[i]; [] when unlabelled
    videos: list[VideoRecord]  # usable videos, sorted by path
    excluded: list[tuple[str, str]]  # (path relative to root, reason) for every rejected file
    layout: str = "unlabelled"  # the resolved layout (never "auto")
    csv: str | None = None  # absolute path of the CSV for the csv and kinetics layouts
    annotations: str | None = None  # absolute path of the official lists (ucf101, hmdb51, ssv2)
    split: int = 1  # the official split the lists were read for
    subset: str | None = None  # the subset of the split: train, test or validation
    min_frames: int = 1
    verify: str = "first"  # how much of each file probing decoded: "first" frame or "full"
    # Per excluded path: its stat and, for a readable but too short video, its probe; what reuse needs.
    excluded_meta: dict[str, dict] = field(default_factory=dict, repr=False)

    def lists(self) -> ListSpec:
        """Which list of the dataset this index was built from."""
        return ListSpec(self.csv, self.annotations, self.split, self.subset)

    def abspath(self, i: int) -> str:
        """Absolute path of video ``i``."""
        return abspath(self.root, self.videos[i].path)

    def to_dict(self) -> dict:
        return {
            "format": "cvrl_pl.video_index",
            "version": FORMAT_VERSION,
            "root": self.root,
            "layout": self.layout,
            "csv": self.csv,
            "annotations": self.annotations,
            "split": self.split,
            "subset": self.subset,
            "min_frames": self.min_frames,
            "verify": self.verify,
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
            annotations=data.get("annotations"),  # indexes written before the annotated layouts had none
            split=int(data.get("split", 1)),
            subset=data.get("subset"),
            min_frames=int(data["min_frames"]),
            verify=data.get("verify", "first"),  # indexes written before --verify existed probed the first frame
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

    def decoders(self, capability: tuple[int, int] | None) -> np.ndarray:
        """Per video, the code of the decoder that reads it on a GPU of compute ``capability`` (None: on a CPU)."""
        codes = [decoder_for(v.codec, v.bit_depth, v.chroma, capability) for v in self.videos]
        return np.array(codes, np.int8)

    def summary(self, capability: tuple[int, int] | None) -> dict:
        """The report's figures as one JSON-ready object, for scripts (keep its keys stable): ``layout``,
        ``classes`` (their number), ``videos``, ``excluded``, ``decoders`` (name -> videos it takes on that
        device), ``device``, ``gpu_capability``, ``gpu_generation``, ``codecs`` and ``formats``."""
        return {
            "root": self.root,
            "layout": self.layout,
            "classes": len(self.classes),
            "videos": len(self.videos),
            "excluded": len(self.excluded),
            "decoders": decoder_counts(self.decoders(capability)),
            "device": "cpu" if capability is None else "gpu",
            "gpu_capability": None if capability is None else "{}.{}".format(*capability),
            "gpu_generation": None if capability is None else generation(capability).name,
            "codecs": dict(sorted(Counter(v.codec for v in self.videos).items())),
            "formats": dict(sorted(Counter(format_name(v) for v in self.videos).items())),
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
            frames = [v.num_frames for v in self.videos]
            fps = [v.fps for v in self.videos]
            lines.append("  codecs: " + ", ".join(f"{c} {n}" for c, n in summary["codecs"].items()))
            lines.append("  formats: " + ", ".join(f"{f} {n}" for f, n in summary["formats"].items()))
            lines.append(f"  decoders {decoders_where(capability)}: " + counts_text(summary["decoders"]))
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


def format_name(v: VideoRecord) -> str:
    """A video's stream format in one word-group: "h264 High 10 yuv420p10le"."""
    return " ".join(part for part in (v.codec, v.profile, v.pix_fmt) if part)


def decoders_where(capability: tuple[int, int] | None) -> str:
    """Where the decoder counts hold: "on a CPU", "on a GPU of compute capability 9.0 (Hopper (H100, H200))"."""
    if capability is None:
        return "on a CPU"
    return "on a GPU of compute capability {}.{} ({})".format(*capability, generation(capability).name)


def counts_text(counts: dict[str, int]) -> str:
    """{"nvdec": 3, "dali_cpu": 0, "pyav": 1} -> "nvdec 3, dali_cpu 0, pyav 1"."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())
