"""The synthetic dataset index of the scale benchmarks (bench_scale.py, bench_start.py): videos as probing would find
them, without files, over 400 class folders; and the figures' helpers. Light to import: no torch, DALI or Lightning.
"""

from __future__ import annotations

import numpy as np

from cvrl_pl.data.index.columns import Runs
from cvrl_pl.data.index.records import index_description

CLASSES = 400
GOP = 13
CHUNK = 500_000


def synthetic(start: int, stop: int) -> tuple[list[str], dict]:
    """Videos start..stop-1 as probing would find them: paths and columns."""
    ids = np.arange(start, stop)
    rng = np.random.default_rng(start)
    frames = rng.integers(250, 301, len(ids))
    counts = -(-frames // GOP)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    keyframes = (np.arange(counts.sum()) - starts) * GOP
    n = len(ids)
    sizes = rng.integers(500_000, 2_000_000, n)
    columns = {
        "label": ids % CLASSES,
        "num_frames": frames,
        "fps": np.full(n, 25.0),
        "width": np.full(n, 340),
        "height": np.full(n, 256),
        "codec": ["vp9"] * n,
        "profile": ["Profile 0"] * n,
        "pix_fmt": ["yuv420p"] * n,
        "bit_depth": np.full(n, 8),
        "stream_faults": np.zeros(n, np.int16),
        "chroma": ["4:2:0"] * n,
        "size": sizes,
        "mtime_ns": np.full(n, 1_700_000_000 * 10**9),
        "offset": np.full(n, -1),
        "keyframes": Runs(keyframes, counts),
        "keyframe_pts": Runs(keyframes * 40, counts),
        # a keyframe's packet where its share of the file starts, a twentieth of a GOP's bytes long
        "keyframe_pos": Runs(keyframes * np.repeat(sizes // frames, counts), counts),
        "keyframe_bytes": Runs(np.repeat(sizes // frames * GOP // 20, counts), counts),
        "data_end": sizes,
    }
    return [f"class_{i % CLASSES:03d}/video_{i:09d}.webm" for i in ids.tolist()], columns


def description(root: str) -> dict:
    """What an index of the synthetic videos under ``root`` records: the folder layout, the 400 classes."""
    options = {"layout": "folder", "csv": None, "annotations": None, "split": 1, "subset": None}
    return index_description(root, [f"class_{k:03d}" for k in range(CLASSES)], min_frames=1, verify="first", **options)


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
