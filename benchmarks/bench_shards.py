"""Shards on object storage against the same shards on disk; one JSON line.

``--videos`` generated H.264 MP4 members (faststart, a keyframe every ``--gop`` frames, ``--size`` at 25 fps:
340x256 comes to about 110 kbit/s, as WebVid's average; 640x360 to a few hundred, nearer Panda-70M's) of each
length in ``--seconds``, in video2dataset's shards, uploaded to a moto S3
server (in a subprocess). Side by side in one run:

- ``fetched_over_member_<s>s``: the bytes a pretraining sample fetches (two 16-frame clips at stride 2, CVRL's
  interval sampling) over its member's size, read by the source as training reads it (the decoding left to DALI
  is not run: bytes only), with the byte ranges the index says fetched at once (``ranged``) and fetched block by
  block where the demuxer reads (``lazy``), and the requests and round trips a sample takes each way; beside it
  ``whole_gops_over_member_<s>s``, the share of the bytes in the GOPs the sample's frames lie in: the floor of a
  reader that decodes whole GOPs;
- ``index_read_over_stored``: the bytes listing and probing the shards read over the bytes the shards hold;
- ``clips_per_s_s3`` / ``clips_per_s_local`` and their ratio: the pretraining pipeline (DALI, ``--workers``
  Python workers, PyAV decoding H.264 on a CPU) reading the 10 s shards from moto with ``--latency`` seconds added
  to every request, against the same shards on disk.

    python benchmarks/bench_shards.py --videos 16 --seconds 10,60 --gop 50 --latency 0.05
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from bench_videos import write_video
from object_store import moto_server, s3_environment
from v2d_shards import Sample, write_shards

from cvrl_pl.data.batches import pretrain_batch
from cvrl_pl.data.decoding import choose_decoders
from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.loader import DaliLoader, video_table
from dali_pipelines import remote, storage
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import OUTPUTS, pretrain_pipeline
from dali_pipelines.sources import PretrainSource

TEMPORAL = {"distribution": "decreasing", "power": 1.0}  # the paper's law of the gap between the two clips
CLIP = {"num_frames": 16, "stride": 2}


def make_shards(folder: Path, scratch: Path, *, videos: int, seconds: int, gop: int, size: tuple[int, int]) -> int:
    """One shard of ``videos`` members of ``seconds`` s in ``folder``; the bytes of the shard."""
    samples = []
    for i in range(videos):
        path = write_video(
            scratch / f"v{seconds}_{i}.mp4", i, 25 * seconds, size=size, codec="h264", gop=gop, faststart=True
        )
        samples.append(Sample(path.read_bytes(), f"video {i}"))
    write_shards(folder, samples, per_shard=videos, parquet=False)
    return sum(p.stat().st_size for p in folder.glob("*.tar"))


def upload(folder: Path, url: str) -> None:
    fs = remote.filesystem(url)
    for path in sorted(folder.iterdir()):
        fs.put_file(str(path), f"{url.removeprefix('s3://')}/{path.name}")


def source_for(index, *, ranged: bool) -> PretrainSource:
    """The pretraining source over ``index``, its videos left to DALI (only their packets read here); without the
    byte positions of the keyframes when not ``ranged``."""
    table = video_table(index)
    if not ranged:
        table = dataclasses.replace(table, keyframe_pos=None)
    view = ViewAugConfig(crop_size=112)
    return PretrainSource(table, (view, view), TEMPORAL, **CLIP, batch_size=8, seed=0, decoders="dali_cpu")


def fetched(index, samples: int, *, ranged: bool) -> dict:
    """Bytes fetched per sample over the member's size, and requests per sample, over ``samples`` samples."""
    source, table = source_for(index, ranged=ranged), video_table(index)
    sizes = index.videos.column("size")
    ratios, requests, rounds, floors = [], [], [], []
    source.sample(*source.item_at(0, 0))  # the shard's stat, which a process keeps for a while
    for i in range(samples):
        before = dict(storage.COUNTS)
        item, rng = source.item_at(0, i % len(source))
        frames = source.sample(item, rng)["frames"]
        vid = source.video_of(item)
        ratios.append((storage.COUNTS["bytes"] - before.get("bytes", 0)) / sizes[vid])
        floors.append(gop_floor(table, vid, frames))
        requests.append(storage.COUNTS["requests"] - before.get("requests", 0))
        rounds.append(storage.COUNTS["rounds"] - before.get("rounds", 0))
    return {
        "fetched_over_member": float(np.mean(ratios)),
        "requests_per_sample": float(np.mean(requests)),
        "round_trips_per_sample": float(np.mean(rounds)),
        "whole_gops_over_member": float(np.mean(floors)),
    }


def gop_floor(table, vid: int, frames: np.ndarray) -> float:
    """The share of video ``vid``'s bytes in the GOPs that ``frames`` lie in: what a reader that takes whole GOPs
    (from a keyframe to the next, as the remux does) cannot fetch less than."""
    keys, pos = np.asarray(table.keyframes[vid]), np.asarray(table.keyframe_pos[vid], np.int64)
    gop_bytes = np.diff(np.append(pos, int(table.data_ends[vid])))
    touched = np.unique(np.searchsorted(keys, np.asarray(frames), side="right") - 1)
    return float(gop_bytes[touched].sum() / int(table.sizes[vid]))


def clips_per_s(index, *, workers: int, batches: int) -> float:
    """Training clips a second of the pretraining pipeline over ``index``: 2 clips a video, after one batch."""
    view = ViewAugConfig(crop_size=112)
    source = PretrainSource(
        video_table(index),
        (view, view),
        TEMPORAL,
        **CLIP,
        batch_size=8,
        seed=0,
        decoders=choose_decoders("auto", index, None),
    )
    loader = DaliLoader(
        source,
        build=lambda src: pretrain_pipeline(src, None, num_threads=2, py_workers=workers),
        names=OUTPUTS,
        progress=lambda: (0, 0),
        transform=partial(pretrain_batch, num_views=2),
    )
    stream = itertools.chain.from_iterable(iter(loader) for _ in itertools.count())
    next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return 2 * 8 * batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16, help="members a shard")
    parser.add_argument("--seconds", default="10,60", help="member lengths, one shard each")
    parser.add_argument("--gop", type=int, default=50, help="frames between keyframes")
    parser.add_argument("--size", default="340x256", help="WxH of the members (340x256: about WebVid's bit rate)")
    parser.add_argument("--samples", type=int, default=64, help="samples read for the bytes figures")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every S3 request")
    parser.add_argument("--workers", type=int, default=4, help="Python workers of the pipeline (data.num_workers)")
    parser.add_argument("--batches", type=int, default=12, help="batches of 8 videos timed per pipeline")
    parser.add_argument("--json", help="also write the JSON line to this file")
    args = parser.parse_args()
    figures: dict = {"videos": args.videos, "gop": args.gop, "latency_s": args.latency, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["CVRL_CACHE"] = str(tmp / "cache")
        lengths = [int(s) for s in args.seconds.split(",")]
        size = tuple(int(x) for x in args.size.split("x"))
        stored = {
            s: make_shards(tmp / f"{s}s", tmp, videos=args.videos, seconds=s, gop=args.gop, size=size) for s in lengths
        }
        figures["member_kbit_s"] = {s: round(8 * stored[s] / args.videos / s / 1000) for s in lengths}
        local = {s: load_or_build_index(str(tmp / f"{s}s"), workers=1, progress=False) for s in lengths}
        with moto_server() as endpoint:
            os.environ.update(s3_environment(endpoint))
            remote.filesystem("s3://bench").mkdir("bench")
            for s in lengths:
                upload(tmp / f"{s}s", f"s3://bench/{s}s")
                before = storage.COUNTS["bytes"]
                on_s3 = load_or_build_index(f"s3://bench/{s}s", workers=1, progress=False)
                figures[f"index_read_over_stored_{s}s"] = (storage.COUNTS["bytes"] - before) / stored[s]
                for ranged in (True, False):
                    found = fetched(on_s3, args.samples, ranged=ranged)
                    way = "ranged" if ranged else "lazy"
                    figures[f"fetched_over_member_{s}s_{way}"] = found["fetched_over_member"]
                    figures[f"requests_per_sample_{s}s_{way}"] = found["requests_per_sample"]
                    figures[f"round_trips_per_sample_{s}s_{way}"] = found["round_trips_per_sample"]
                figures[f"whole_gops_over_member_{s}s"] = found["whole_gops_over_member"]
        with moto_server(latency=args.latency) as endpoint:
            os.environ.update(s3_environment(endpoint))
            s = lengths[0]
            remote.filesystem("s3://bench").mkdir("bench")
            upload(tmp / f"{s}s", f"s3://bench/{s}s")
            on_s3 = load_or_build_index(f"s3://bench/{s}s", workers=1, progress=False)
            figures["clips_per_s_local"] = clips_per_s(local[s], workers=args.workers, batches=args.batches)
            figures["clips_per_s_s3"] = clips_per_s(on_s3, workers=args.workers, batches=args.batches)
            figures["s3_over_local"] = figures["clips_per_s_s3"] / figures["clips_per_s_local"]
        with moto_server() as endpoint:  # the server's own CPU time, without the latency: a 2-core machine shares it
            os.environ.update(s3_environment(endpoint))
            remote.filesystem("s3://bench").mkdir("bench")
            upload(tmp / f"{s}s", f"s3://bench/{s}s")
            on_s3 = load_or_build_index(f"s3://bench/{s}s", workers=1, progress=False)
            figures["clips_per_s_s3_no_latency"] = clips_per_s(on_s3, workers=args.workers, batches=args.batches)
            figures["clip_seconds"] = s
    line = json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()})
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")


if __name__ == "__main__":
    main()
