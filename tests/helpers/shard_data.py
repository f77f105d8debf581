"""A small shard set as video2dataset writes it, with what real shard sets hold: H.264 MP4 (faststart, a keyframe
every 10 frames), a VP9 WebM clip with a clip suffix, a failed sample (json and txt, no video), a member whose name
is over 100 characters, and a member that is no video; 2 shards of 3 samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.v2d_shards import Sample, write_shards
from tests.helpers.videos import write_video

FRAMES = 40
LONG_KEY = "k" * 110  # a member name over 100 characters: a PAX path record


@dataclass(frozen=True)
class ShardSet:
    folder: Path  # the shards, their parquet and stats files
    keys: list[str]  # the keys of the samples with a video, in stored order
    videos: dict[str, bytes]  # member name -> the video's bytes, in stored order
    broken: str  # the path ("<shard>/<member>") of the member that is no video


def write_shard_set(folder: Path, scratch: Path) -> ShardSet:
    """The shard set under ``folder`` (videos written first under ``scratch``)."""
    mp4 = [
        write_video(scratch / f"h{i}.mp4", FRAMES, width=64, height=48, codec="h264", gop=10).read_bytes()
        for i in range(3)
    ]
    webm = write_video(scratch / "v.webm", FRAMES, width=64, height=48, codec="vp9", gop=10).read_bytes()
    samples = [
        Sample(mp4[0], "a person waves"),
        Sample(None, "a failed download"),
        Sample(webm, "a clip of a longer video", ext="webm", clip=1),
        Sample(mp4[1], "a long key", key=LONG_KEY),
        Sample(b"<html>not found</html>" * 40, "an error page saved as mp4"),
        Sample(mp4[2], "a dog runs"),
    ]
    keys = write_shards(folder, samples, per_shard=3)
    members = [f"{key}.{s.ext}" for key, s in zip(keys, [s for s in samples if s.video is not None], strict=True)]
    broken = members.pop(3)  # the error page
    videos = {name: s.video for name, s in zip(members, [samples[i] for i in (0, 2, 3, 5)], strict=True)}
    return ShardSet(folder, [name.partition(".")[0] for name in members], videos, f"00001.tar/{broken}")
