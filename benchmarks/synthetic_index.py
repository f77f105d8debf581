"""The synthetic dataset index of the scale benchmarks (bench_scale.py, bench_start.py): videos as probing would find
them, without files, over 400 class folders (Kinetics-shaped) or as members of tar shards (Panda-70M-shaped); and the
figures' helpers. Light to import: no torch, DALI or Lightning.
"""

from __future__ import annotations

import numpy as np

from cvrl_pl.data.index.columns import Runs
from cvrl_pl.data.index.records import index_description

CLASSES = 400
GOP = 13
CHUNK = 500_000
# Panda-70M: 70.7M clips of 8.5 s on average (2 to 60 s) in 38k video2dataset shards, about 0.5 MB a clip (36 TB);
# 720p H.264 at 30 fps with a keyframe every 2 s: about 5 keyframes a clip.
PANDA_GOP, PANDA_FRAMES = 60, (60, 451)
PAX = 1536  # a member's data starts this far after its header (video2dataset's float mtimes: a PAX header each)
FAILED_EVERY = 10  # a failed sample (json and txt, no video) for every 10 clips: downloads from YouTube years later


def synthetic(start: int, stop: int, per_shard: int = 0) -> tuple[list[str], dict]:
    """Videos start..stop-1 as probing would find them: paths and columns. ``per_shard`` > 0: Panda-70M's clips,
    ``per_shard`` to a tar shard (paths ``<shard>.tar/<key>.mp4``, video2dataset's keys, unlabelled); else Kinetics'
    videos in class folders."""
    ids = np.arange(start, stop)
    rng = np.random.default_rng(start)
    n = len(ids)
    if per_shard:
        frames, gop, sizes = rng.integers(*PANDA_FRAMES, n), PANDA_GOP, rng.integers(100_000, 920_000, n)
        shard, member = ids // per_shard, ids % per_shard
        offsets = (PAX + member * 1_000_000).astype(np.int64)  # within the shard (members under 1 MB apart)
        digits = len(str(per_shard + per_shard // FAILED_EVERY))  # the failed samples' keys too
        paths = [f"{s:05d}.tar/{s:05d}{m:0{digits}d}.mp4" for s, m in zip(shard.tolist(), member.tolist(), strict=True)]
        stream = {"fps": 30.0, "width": 1280, "height": 720, "codec": "h264", "profile": "High", "label": -1}
    else:
        frames, gop, sizes = rng.integers(250, 301, n), GOP, rng.integers(500_000, 2_000_000, n)
        offsets = np.full(n, -1)
        paths = [f"class_{i % CLASSES:03d}/video_{i:09d}.webm" for i in ids.tolist()]
        stream = {"fps": 25.0, "width": 340, "height": 256, "codec": "vp9", "profile": "Profile 0", "label": None}
    counts = -(-frames // gop)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    keyframes = (np.arange(counts.sum()) - starts) * gop
    columns = {
        "label": ids % CLASSES if stream["label"] is None else np.full(n, stream["label"]),
        "num_frames": frames,
        "fps": np.full(n, stream["fps"]),
        "width": np.full(n, stream["width"]),
        "height": np.full(n, stream["height"]),
        "codec": [stream["codec"]] * n,
        "profile": [stream["profile"]] * n,
        "pix_fmt": ["yuv420p"] * n,
        "bit_depth": np.full(n, 8),
        "stream_faults": np.zeros(n, np.int16),
        "chroma": ["4:2:0"] * n,
        "size": sizes,
        "mtime_ns": np.full(n, 1_700_000_000 * 10**9),
        "offset": offsets,
        "keyframes": Runs(keyframes, counts),
        "keyframe_pts": Runs(keyframes * 40, counts),
        # a keyframe's packet where its share of the file starts, a twentieth of a GOP's bytes long
        "keyframe_pos": Runs(keyframes * np.repeat(sizes // frames, counts), counts),
        "keyframe_bytes": Runs(np.repeat(sizes // frames * gop // 20, counts), counts),
        "data_end": sizes,
    }
    return paths, columns


def failed_samples(start: int, stop: int, per_shard: int) -> list[str]:
    """The failed samples' keys (``<shard>.tar/<key>``) beside clips start..stop-1: one for every FAILED_EVERY clips,
    numbered after the shard's clips."""
    ids = np.arange(start, stop)
    ids = ids[ids % per_shard % FAILED_EVERY == 0]
    shard, extra = ids // per_shard, per_shard + ids % per_shard // FAILED_EVERY
    digits = len(str(per_shard + per_shard // FAILED_EVERY))
    return [f"{s:05d}.tar/{s:05d}{k:0{digits}d}" for s, k in zip(shard.tolist(), extra.tolist(), strict=True)]


def description(root: str, shards: int = 0) -> dict:
    """What an index of the synthetic videos under ``root`` records: the folder layout and its 400 classes, or
    (``shards`` > 0) the webdataset layout of that many shards, unlabelled."""
    options = {"csv": None, "annotations": None, "split": 1, "subset": None, "min_frames": 1, "verify": "first"}
    if shards:
        pattern = f"{root}/{{00000..{shards - 1:05d}}}.tar"
        return index_description(pattern, [], layout="webdataset", **options)
    return index_description(root, [f"class_{k:03d}" for k in range(CLASSES)], layout="folder", **options)


def memory() -> dict[str, float]:
    """This process's VmRSS, VmHWM (its peak: reset by exec, unlike ru_maxrss), RssAnon and RssFile in MiB."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                found[key] = int(value.split()[0]) / 1024
    return found


def rounded(value: object) -> object:
    """Floats to 3 decimals, through dicts: the JSON line's figures."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value
