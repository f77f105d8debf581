"""What the dataset index costs at web scale, the columnar index beside the JSON index it replaced; one JSON line.

For each size, a synthetic index (no video files: 400 class folders, 250-300 frames a video, a keyframe every 13
frames, about 20 per video; or with ``--shards N``, Panda-70M's clips as members of N video2dataset tar shards, 60-450
frames, a keyframe every 60, about 5 per clip, and a failed sample for every 10 clips) is built and measured as a
training run uses it:

- build_s: the whole build (the synthetic probes and writing them); save_s: the writing alone;
- load_s: what a rank does to open it (load, the sources' table, the decoder routing, the shared-memory check), in a
  fresh process; rank_peak_rss_mb: that process's peak resident memory, with the source built and an epoch's
  coverage checked; rank_rss_before_index_mb: what it held before (torch, DALI and Lightning imported);
  rank_mapped_file_mb: the index's page-cache pages it maps at the end (shared by every process of the node);
- report_s, rank0_peak_rss_mb: the index's report (which the rank preparing the data logs at every start) and that
  rank's peak with it;
- worker_rss_mb: the private memory a spawned source worker adds when it unpickles the pretraining source and
  reads 10 batches from it (DALI's workers on a GPU are spawned); worker_mapped_mb: the page-cache pages of the
  index those reads map (shared, not copied); pickled_kb: the source as pickled;
- plan_s: one epoch's plan for 8 ranks; batch_lookup_ms: everything a batch's sources read from the index (video
  id, frames, size, label, path, keyframes) for 64 samples; disk_mb.

The JSON index (cvrl-pl before version 3: one file of per-video objects, a VideoTable of Python paths) is measured
at the sizes in --json-sizes with the same fields, under "json"; it does not reach 10M on this machine.

    python benchmarks/bench_scale.py --sizes 100000,1000000,10000000 --json-sizes 100000,1000000
    python benchmarks/bench_scale.py --sizes 70700000 --json-sizes "" --shards 38000   # Panda-70M
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from synthetic_index import CHUNK, description, failed_samples, memory, rounded, synthetic

from cvrl_pl.data.datamodule import check_epoch_coverage
from cvrl_pl.data.decoding import choose_decoders
from cvrl_pl.data.index.records import VideoRecord
from cvrl_pl.data.index.store import IndexWriter
from cvrl_pl.data.index.video_index import VideoIndex
from cvrl_pl.data.layouts.webdataset import FAILED
from cvrl_pl.data.loader import video_table
from cvrl_pl.data.shared_memory import largest_samples
from dali_pipelines.plan import EpochPlan
from dali_pipelines.sources import PretrainSource
from dali_pipelines.table import VideoTable

BATCH, RANKS = 64, 8
TEMPORAL = {"distribution": "decreasing", "power": 1.0, "gap": 0}


def build_columnar(folder: Path, n: int, shards: int = 0) -> dict:
    start = time.perf_counter()
    writing = 0.0
    writer = IndexWriter(folder)
    per_shard = -(-n // shards) if shards else 0
    for first in range(0, n, CHUNK):
        paths, columns = synthetic(first, min(n, first + CHUNK), per_shard)
        failed = failed_samples(first, min(n, first + CHUNK), per_shard) if per_shard else []
        t = time.perf_counter()
        writer.add([], [(key, FAILED, {}) for key in failed])
        writer.add_columns(paths, columns)
        writer.commit()
        writing += time.perf_counter() - t
    t = time.perf_counter()
    writer.finish(description(str(folder.parent), shards))
    writing += time.perf_counter() - t
    size = sum(f.stat().st_size for f in folder.iterdir())
    return {"build_s": time.perf_counter() - start, "save_s": writing, "disk_mb": size / 2**20}


def build_json(path: Path, n: int, shards: int = 0) -> dict:
    """The JSON index as cvrl-pl wrote it before version 3: every video an object of one file."""
    start = time.perf_counter()
    videos = []
    per_shard = -(-n // shards) if shards else 0
    for first in range(0, n, CHUNK):
        paths, c = synthetic(first, min(n, first + CHUNK), per_shard)
        kf, counts = c["keyframes"].values.tolist(), c["keyframes"].lengths.tolist()
        ends = np.cumsum(counts).tolist()
        fixed = {k: np.asarray(c[k]).tolist() for k in ("label", "num_frames", "fps", "width", "height", "size")}
        stream = {k: c[k][0] for k in ("codec", "profile", "pix_fmt", "chroma")}  # one format per synthetic set
        for i, p in enumerate(paths):
            keys = tuple(kf[ends[i] - counts[i] : ends[i]])
            row = {k: v[i] for k, v in fixed.items()}
            videos.append(
                VideoRecord(
                    p, **row, **stream, bit_depth=8, mtime_ns=int(c["mtime_ns"][i]), keyframes=keys,
                    keyframe_pts=tuple(k * 40 for k in keys),
                )
            )  # fmt: skip
    data = {**description(str(path.parent), shards), "videos": [asdict(v) for v in videos], "excluded": []}
    built = time.perf_counter()
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    done = time.perf_counter()
    return {"build_s": done - start, "save_s": done - built, "disk_mb": path.stat().st_size / 2**20}


def open_json(path: str) -> VideoTable:
    """What a rank did with a JSON index: read every object, and the sources' table with Python paths."""
    with open(path) as f:
        data = json.load(f)
    v = [VideoRecord(**{**r, "keyframes": tuple(r["keyframes"]), "keyframe_pts": tuple(r["keyframe_pts"])})
         for r in data["videos"]]  # fmt: skip
    root = data["root"]
    return VideoTable(
        paths=tuple(os.path.join(root, r.path) for r in v),
        num_frames=np.array([r.num_frames for r in v], np.int64),
        widths=np.array([r.width for r in v], np.int64),
        heights=np.array([r.height for r in v], np.int64),
        labels=np.array([r.label for r in v], np.int64),
    )


def source_of(table: VideoTable) -> PretrainSource:
    return PretrainSource(table, (), TEMPORAL, num_frames=16, stride=2, batch_size=BATCH, num_shards=RANKS, seed=0)


def rank(kind: str, path: str) -> None:
    """Child process: start as a training rank does with the index (open it, the sources' table, the per-video
    decoders, the shared-memory check's largest samples, the pretraining source and the check that an epoch reads
    every video); print the times and the memory as JSON, and leave the pickled source beside the index."""
    imported = memory()["VmRSS"]  # torch, DALI, Lightning imported: what every rank holds before the index
    start = time.perf_counter()
    if kind == "columnar":
        index = VideoIndex.load(path)
        table = video_table(index)
        decoders = choose_decoders("auto", index, None)
        largest_samples(index, decoders, 32, BATCH)
    else:
        table = open_json(path)
    loaded = time.perf_counter() - start
    source = source_of(table)
    check_epoch_coverage(source, RANKS)
    pickled = pickle.dumps(source)
    end = memory()
    figures = {"load_s": loaded, "rank_peak_rss_mb": end["VmHWM"], "rank_rss_before_index_mb": imported}
    figures.update({"rank_mapped_file_mb": end["RssFile"], "pickled_kb": len(pickled) / 1024})
    if kind == "columnar":  # the rank that prepares the data also logs the index's report at every start
        start = time.perf_counter()
        index.report()
        figures.update({"report_s": time.perf_counter() - start, "rank0_peak_rss_mb": memory()["VmHWM"]})
    print(json.dumps(figures))
    sys.stdout.flush()
    with open(pickled_path(kind, Path(path)), "wb") as f:
        f.write(pickled)


def pickled_path(kind: str, path: Path) -> Path:
    return path.with_name(path.name + ".source.pkl") if kind == "json" else path.parent / "source.pkl"


def lookup(source: PretrainSource, index_keyframes, batch: int) -> None:
    """Everything one batch's samples read from the index (no video is opened)."""
    for i in range(batch * BATCH, (batch + 1) * BATCH):
        vid = source.video_of(source.item_at(0, i % len(source))[0])
        t = source.table
        int(t.num_frames[vid]), int(t.widths[vid]), int(t.heights[vid]), int(t.labels[vid])
        str(t.paths[vid])
        if index_keyframes is not None:
            len(index_keyframes[vid])


def worker(pickled: str, keyframes_path: str | None, queue) -> None:
    """Spawned child: what unpickling the source and reading batches from it add to a worker's memory: private
    (anonymous) memory, and the index's page-cache pages it maps, which every process of the node shares."""
    before = memory()
    with open(pickled, "rb") as f:
        source = pickle.load(f)
    keyframes = VideoIndex.load(keyframes_path).videos.ragged("keyframes") if keyframes_path else None
    for batch in range(10):
        lookup(source, keyframes, batch)
    after = memory()
    queue.put(
        {
            "worker_rss_mb": after["RssAnon"] - before["RssAnon"],
            "worker_mapped_mb": after["RssFile"] - before["RssFile"],
        }
    )


def measure(kind: str, path: Path, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--rank", kind, str(path)], capture_output=True, text=True, check=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    pickled = pickled_path(kind, path)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=worker, args=(str(pickled), str(path) if kind == "columnar" else None, queue))
    child.start()
    figures.update(queue.get())
    child.join()
    os.remove(pickled)
    start = time.perf_counter()
    plans = [EpochPlan(n, RANKS, r, BATCH, epoch=0, seed=0).items() for r in range(RANKS)]
    figures["plan_s"] = time.perf_counter() - start
    assert np.unique(np.concatenate(plans)).size == n
    del plans
    if kind == "columnar":
        index = VideoIndex.load(path)
        source, keyframes = source_of(video_table(index)), index.videos.ragged("keyframes")
        batches = range(0, 200, 10)
        start = time.perf_counter()
        for b in batches:
            lookup(source, keyframes, b)
        figures["batch_lookup_ms"] = (time.perf_counter() - start) / len(batches) * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="index sizes, comma separated")
    parser.add_argument("--json-sizes", default="100000,1000000", help="sizes to measure the JSON index at too")
    parser.add_argument("--shards", type=int, default=0, help="Panda-70M's clips in this many tar shards")
    parser.add_argument("--dir", type=Path, help="where to build (default: a temporary folder, removed)")
    parser.add_argument("--rank", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank:
        return rank(*args.rank)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    json_sizes = {int(s) for s in args.json_sizes.split(",") if s}
    result: dict = {"shards": args.shards, "sizes": {}}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in sizes:
            folder = Path(tmp) / f"n{n}" / ".cvrl_index"
            figures = build_columnar(folder, n, args.shards)
            figures.update(measure("columnar", folder, n))
            shutil.rmtree(folder.parent)
            if n in json_sizes:
                path = Path(tmp) / f"n{n}.json"
                old = build_json(path, n, args.shards)
                old.update(measure("json", path, n))
                path.unlink()
                figures["json"] = old
                for key in ("load_s", "rank_peak_rss_mb", "worker_rss_mb", "disk_mb", "save_s"):
                    figures[f"{key}_json_over_columnar"] = old[key] / max(figures[key], 1e-9)
            result["sizes"][str(n)] = figures
            print(f"{n}: {json.dumps(figures)}", file=sys.stderr)
    print(json.dumps(rounded(result)))


if __name__ == "__main__":
    main()
