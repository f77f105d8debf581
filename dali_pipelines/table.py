"""The indexed videos as the sources read them: per video its reference, frame count, size and label, and where the
index knows them its keyframes, byte ranges, file stat, codec and frame rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dali_pipelines import storage


@dataclass(frozen=True)
class VideoTable:
    """What the sources need to know of the indexed videos, by video id: arrays, or a saved index's memory-mapped
    columns (cvrl_pl.data.index.columns), which pickle as their file names, so a worker maps the pages every
    process of the node shares instead of receiving a copy."""

    paths: Sequence[storage.Ref]  # the videos' references for storage.py: paths, URLs, members of tar shards
    num_frames: Sequence[int]
    widths: Sequence[int]
    heights: Sequence[int]
    labels: Sequence[int]
    # Per video, its keyframes' display indices and timestamps (sequences of runs): the sources then hand the
    # decoder only the packets a sample needs (packets.py). None: the whole file, decoded from frame 0.
    keyframes: Sequence[Sequence[int]] | None = None
    keyframe_pts: Sequence[Sequence[int]] | None = None
    # Per video, where its keyframes' packets lie (bytes) and their sizes, and the end of its last video packet: a
    # sample then fetches the byte ranges it reads at once from object storage (packets.byte_ranges).
    keyframe_pos: Sequence[Sequence[int]] | None = None
    keyframe_bytes: Sequence[Sequence[int]] | None = None
    data_ends: Sequence[int] | None = None
    # Per video, the file's size and mtime when indexed: a file that changed since is reported, not decoded.
    sizes: Sequence[int] | None = None
    mtimes: Sequence[int] | None = None
    # Per video, its codec and profile as the index found them ("av1", "Main"): a failure report names them.
    codecs: Sequence[str] | None = None
    profiles: Sequence[str] | None = None
    # Per video, its frame rate: clips sampled by time (a source's ``fps``) need it.
    fps: Sequence[float] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def format_of(self, vid: int) -> str:
        """Video ``vid``'s codec and profile, "av1 Main"; "unknown" where the table does not hold them."""
        if self.codecs is None:
            return "unknown"
        profile = self.profiles[vid] if self.profiles is not None else ""
        return f"{self.codecs[vid]} {profile}".strip()
