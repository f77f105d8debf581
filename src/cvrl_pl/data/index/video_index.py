"""The index of a dataset: its usable videos (path, label, counted frames, codec, size, keyframes), its classes,
and every rejected file with its reason; opened from its saved folder of memory-mapped columns (columns.py, written
by store.py), and reported in figures and words."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cvrl_pl.data.index.columns import MANIFEST, open_tables, read_manifest, read_rows
from cvrl_pl.data.index.formats import format_name, stream_formats
from cvrl_pl.data.index.records import CHUNK, FORMAT_NAME, FORMAT_VERSION, index_description
from cvrl_pl.data.index.views import ExcludedFiles, VideoColumns
from cvrl_pl.data.layouts.files import ListSpec, video_ref
from cvrl_pl.errors import DatasetError
from dali_pipelines import storage
from dali_pipelines.decoders import (
    NVDEC_FAULTS,
    counts_text,
    decoder_counts,
    decoders_where,
    fault_names,
    generation,
    routes,
)


@dataclass
class VideoIndex:
    """The usable videos of a dataset root, the class names, and every rejected file with its reason."""

    root: str  # absolute path of the dataset root
    classes: list[str]  # class names; label i is classes[i]; [] when unlabelled
    videos: VideoColumns  # usable videos, sorted by path
    excluded: Sequence[tuple[str, str]]  # (path relative to root, reason) for every rejected file
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
    listing: dict | None = field(default=None, repr=False)  # what a start compares: listing.listing_signature
    part: tuple[int, int] | None = None  # (k, n): the index of part k of n of the shards (build.PART_SUFFIX)
    # What its build probed: videos, bytes read through ranged reads (shard members, URLs), the bytes they hold
    probing: dict | None = field(default=None, repr=False)

    def lists(self) -> ListSpec:
        """Which list of the dataset this index was built from."""
        return ListSpec(self.csv, self.annotations, self.split, self.subset)

    def ref(self, i: int) -> storage.Ref:
        """Video ``i``'s reference for dali_pipelines.storage (its absolute path, URL, or shard member)."""
        v = self.videos
        return video_ref(self.root, v.paths[i], offset=int(v.columns["offset"][i]), size=int(v.columns["size"][i]))

    def description(self) -> dict:
        """What the index was built from (its manifest's meta, beside the columns)."""
        options = {"layout": self.layout, "min_frames": self.min_frames, "verify": self.verify, **vars(self.lists())}
        if self.part:
            options["part"] = list(self.part)
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
            return cls(
                root=meta["root"],
                classes=list(meta["classes"]),
                videos=VideoColumns(tables["videos"], tables["dirs"]["name"], meta["vocab"]),
                excluded=ExcludedFiles(excluded["path"], excluded["reason"]),
                layout=meta["layout"],
                csv=meta["csv"],
                annotations=meta["annotations"],
                split=int(meta["split"]),
                subset=meta["subset"],
                min_frames=int(meta["min_frames"]),
                verify=meta["verify"],
                folder=str(path.resolve()),
                listing=meta.get("listing"),
                part=tuple(meta["part"]) if meta.get("part") else None,
                probing=meta.get("probing"),
                excluded_meta=_excluded_meta(excluded),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: not a valid video index: {exc}") from exc

    def summary(self, capability: tuple[int, int] | None) -> dict:
        """The report's figures as one JSON-ready object, for scripts (keep its keys stable): ``layout``,
        ``classes`` (their number), ``videos``, ``excluded``, ``decoders`` (name -> videos it takes on that
        device), ``device``, ``gpu_capability``, ``gpu_generation``, ``codecs``, ``formats`` and ``nvdec_faults``
        (reason -> videos kept off NVDEC for it on any GPU: decoders.NVDEC_FAULTS)."""
        formats, which = stream_formats(self.videos)  # once: the decoder counts come per format, not per video
        counts = np.bincount(which, minlength=len(formats)).tolist()
        codecs: Counter[str] = Counter()
        named: Counter[str] = Counter()
        faults = dict.fromkeys(NVDEC_FAULTS.values(), 0)
        for f, n in zip(formats, counts, strict=True):
            codecs[f["codec"]] += n
            named[format_name(f)] += n
            for reason in fault_names(f["faults"]):
                faults[reason] += n
        return {
            "root": self.root,
            "layout": self.layout,
            "classes": len(self.classes),
            "videos": len(self.videos),
            "excluded": len(self.excluded),
            "decoders": decoder_counts(np.repeat(routes(formats, capability), counts)),
            "device": "cpu" if capability is None else "gpu",
            "gpu_capability": None if capability is None else "{}.{}".format(*capability),
            "gpu_generation": None if capability is None else generation(capability).name,
            "codecs": dict(sorted(codecs.items())),
            "formats": dict(sorted(named.items())),
            "nvdec_faults": faults,
        }

    def _excluded_lines(self) -> list[str]:
        """The excluded files' counts by reason, then up to REPORT_EXCLUDED files of each reason by name: a shard set
        of Panda-70M's size has millions of failed samples, which a log at every start cannot list."""
        named: dict[str, list[str]] = {}
        counts: Counter[str] = Counter()
        reasons = getattr(self.excluded, "reasons", None) or [r for _, r in self.excluded]
        for i, reason in enumerate(reasons):  # the paths of the files named only: 7M decoded would take minutes
            kind = reason.split(":")[0]
            counts[kind] += 1
            if counts[kind] <= REPORT_EXCLUDED:
                named.setdefault(kind, []).append(f"  {self.excluded[i][0]}: {reason}")
        lines = ["excluded (" + ", ".join(f"{r} {n}" for r, n in counts.most_common()) + "):"]
        for kind, n in counts.most_common():
            lines.extend(named[kind])
            if n > REPORT_EXCLUDED:
                lines.append(f"  ... and {n - REPORT_EXCLUDED} more {kind} (all: the index command's --excluded)")
        return lines

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
            stats = column_stats(self.videos, len(self.classes))
            lines.append("  codecs: " + ", ".join(f"{c} {n}" for c, n in summary["codecs"].items()))
            lines.append("  formats: " + ", ".join(f"{f} {n}" for f, n in summary["formats"].items()))
            lines.append(f"  decoders {decoders_where(capability)}: " + counts_text(summary["decoders"]))
            if any(summary["nvdec_faults"].values()):
                lines.append("  kept off NVDEC on any GPU: " + counts_text(summary["nvdec_faults"]))
            frames = stats["frames"]
            lines.append(
                f"  frames: {frames['min']} to {frames['max']} (median {frames['median']:g}, total {frames['total']})"
            )
            lines.append("  fps: {:g} to {:g}".format(*stats["fps"]))
            lines.append("  short side: {} to {} pixels".format(*stats["short_side"]))
            labelled = stats["per_class"]
            if self.classes and labelled.any():  # a multi-label dataset (charades) labels every video -1
                empty = [c for i, c in enumerate(self.classes) if not labelled[i]]
                if empty:
                    shown = ", ".join(empty[:5]) + (", ..." if len(empty) > 5 else "")
                    lines.append(f"  classes without a usable video: {len(empty)} ({shown})")
        if self.probing and self.probing["bytes_read"]:
            p = self.probing
            lines.append(
                f"  probing read {p['bytes_read'] / 2**20:.1f} MiB of the {p['bytes_stored'] / 2**20:.1f} MiB its "
                f"{p['videos']} videos hold ({p['bytes_read'] / max(p['bytes_stored'], 1):.3f}): headers, first frames"
            )
        if self.excluded:
            lines.extend(self._excluded_lines())
        return "\n".join(lines)


def column_stats(videos: VideoColumns, classes: int) -> dict:
    """The report's figures of whole columns: frames (min, max, median, total), fps and short side (min, max), the
    videos of each of ``classes`` labels. Read in chunks (read_rows): at 70M videos no column is mapped whole into the
    process (the report runs at every start, on the rank that prepares the data)."""
    frame_counts = np.zeros(1, np.int64)  # videos per frame count: the median without sorting a whole column
    fps, short, per_class = [np.inf, -np.inf], [np.inf, -np.inf], np.zeros(classes, np.int64)
    for start in range(0, len(videos), CHUNK):
        counts = np.bincount(read_rows(videos.columns["num_frames"], start, start + CHUNK))
        frame_counts = np.pad(frame_counts, (0, max(0, len(counts) - len(frame_counts))))
        frame_counts[: len(counts)] += counts
        rate = read_rows(videos.columns["fps"], start, start + CHUNK)
        side = np.minimum(*(read_rows(videos.columns[k], start, start + CHUNK) for k in ("width", "height")))
        fps = [min(fps[0], rate.min()), max(fps[1], rate.max())]
        short = [min(short[0], int(side.min())), max(short[1], int(side.max()))]
        labels = read_rows(videos.columns["label"], start, start + CHUNK)
        per_class += np.bincount(labels[labels >= 0], minlength=classes)[:classes]
    present = np.flatnonzero(frame_counts)
    seen = np.cumsum(frame_counts)
    n = int(seen[-1])
    middle = np.searchsorted(seen, [(n - 1) // 2, n // 2], side="right")  # the middle video(s) in frame order
    total = int((np.arange(len(frame_counts)) * frame_counts).sum())
    frames = {"min": int(present[0]), "max": int(present[-1]), "median": float(middle.mean()), "total": total}
    return {"frames": frames, "fps": fps, "short_side": short, "per_class": per_class}


def _excluded_meta(excluded: dict) -> dict[str, dict]:
    """Per excluded file that had a stat (size >= 0; a failed sample or a missing file has none): its stat, and the
    probe of a too-short video. The size column is scanned in chunks, never turned into an object per row."""
    meta = {}
    for start in range(0, len(excluded["path"]), CHUNK):
        sizes = read_rows(excluded["size"], start, start + CHUNK)
        for i in (start + np.flatnonzero(sizes >= 0)).tolist():
            info = excluded["info"][i]
            meta[excluded["path"][i]] = {
                "size": int(excluded["size"][i]),
                "mtime_ns": int(excluded["mtime_ns"][i]),
                **({"info": json.loads(info)} if info else {}),
            }
    return meta


REPORT_EXCLUDED = 50  # files of each reason the report names; the index command's --excluded lists them all


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
