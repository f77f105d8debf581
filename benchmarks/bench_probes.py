"""The two probes that train on an R3D-50's frozen, cached features, side by side on this machine's CPU: seconds
an epoch and peak memory of the linear probe on pooled features and of the attentive probe on feature maps; prints
one JSON line.

The map of each ``--frames`` count is R3D-50's last feature map (2048 channels) for clips of that many frames at a
224 crop, found on the meta device as ``cvrl_pl.module.head_options`` finds it: 16 frames are the pretraining clips,
32 the eval clips. Each probe runs in its own process on ``--videos`` random cached features (float32) and random
labels of ``--classes`` classes: the linear probe is ``cvrl_pl.eval.linear.fit_linear_probe`` with ``epochs=1`` on
pooled features (N, 2048), batch ``--linear-batch``; the attentive probe is ``models.attentive.AttentiveHead`` with
a ``PoolerSpec(--width, --self-blocks, --heads)`` and its grid the map, trained with AdamW (lr 1e-3, weight decay
0.01) for one epoch over the maps (N, 2048, T, H, W) in batches of ``--batch``.

Each probe first trains on its first batch (a warm-up, not timed), then trains a new probe for one epoch, again
until ``--seconds`` have passed: its seconds an epoch are the median (the linear probe's epoch takes milliseconds,
the attentive probe's one is longer than a second). Its peak memory is its process's peak resident memory (VmHWM)
at the end less the same once the cached features are in memory. The cache's size is its float32 bytes
(N x 2048 x T x H x W x 4) and half that in bf16.

    python benchmarks/bench_probes.py --videos 512 --classes 101 --batch 32 --frames 16,32
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from datetime import datetime
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from cvrl_pl.eval.linear import fit_linear_probe
from cvrl_pl.models import build_encoder
from cvrl_pl.models.attentive import AttentiveHead, PoolerSpec

ENCODER, CROP = "r3d50", 224  # model.encoder's default; the crop of both clips (data.crop_size, eval.crop_size)


def feature_maps(frames: list[int]) -> dict[int, tuple[int, ...]]:
    """(C, T, H, W) of the encoder's last feature map for clips of each count of ``frames``, on the meta device."""
    with torch.device("meta"):
        encoder = build_encoder(ENCODER)
        return {n: tuple(encoder.forward_features(torch.empty(1, 3, n, CROP, CROP)).shape[1:]) for n in frames}


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB: Linux's VmHWM. Not ``ru_maxrss``, which a process started by
    another begins at the other's peak (Linux carries it across exec): a child smaller than this script's parent
    process, the linear probe's, would show less than it used."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def linear_epoch(features: torch.Tensor, labels: torch.Tensor, classes: int, batch: int) -> nn.Linear:
    """One epoch of a new linear probe on cached pooled ``features`` (N, C), as linear_eval trains it; the probe."""
    return fit_linear_probe(features, labels, classes, epochs=1, batch_size=batch)


def attentive_epoch(
    maps: torch.Tensor, labels: torch.Tensor, classes: int, batch: int, *, spec: PoolerSpec
) -> AttentiveHead:
    """One epoch of a new attentive head on cached ``maps`` (N, C, T, H, W) in shuffled batches; the head."""
    head = AttentiveHead(maps.shape[1], classes, spec=spec, grid=tuple(maps.shape[2:]))
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.01)
    for index in torch.randperm(len(maps)).split(batch):
        loss = F.cross_entropy(head(maps[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head


def run_probe(probe: str, shape: tuple[int, ...], args: argparse.Namespace) -> dict[str, float]:
    """In this process: ``probe`` (linear or attentive) on random cached features of a (C, T, H, W) map; its seconds
    for one epoch, its peak memory over the cached features' and its parameters."""
    import torch._dynamo  # noqa: F401  (the optimisers import it on first use: 72 MiB that are not the probe's)

    torch.manual_seed(0)
    labels = torch.randint(args.classes, (args.videos,))
    if probe == "linear":
        cached, batch = torch.randn(args.videos, shape[0]), args.linear_batch
        epoch = partial(linear_epoch, classes=args.classes, batch=batch)
    else:
        cached, batch = torch.randn(args.videos, *shape), args.batch
        spec = PoolerSpec(width=args.width, self_blocks=args.self_blocks, heads=args.heads)
        epoch = partial(attentive_epoch, classes=args.classes, batch=batch, spec=spec)
    baseline = peak_rss_mib()
    epoch(cached[:batch], labels[:batch])  # a warm-up on the first batch, not timed
    times: list[float] = []
    while not times or sum(times) < args.seconds:  # a new probe each time
        start = time.perf_counter()
        model = epoch(cached, labels)
        times.append(time.perf_counter() - start)
    return {
        "s_per_epoch": statistics.median(times),
        "epochs": len(times),
        "peak_mib": peak_rss_mib() - baseline,
        "params": sum(p.numel() for p in model.parameters()),
    }


def in_child(probe: str, shape: tuple[int, ...], args: argparse.Namespace) -> dict[str, float]:
    """``run_probe`` in a new process of this script (its own peak memory), with this run's options."""
    options = ["--videos", args.videos, "--classes", args.classes, "--batch", args.batch]
    options += ["--linear-batch", args.linear_batch, "--width", args.width, "--self-blocks", args.self_blocks]
    options += ["--heads", args.heads, "--threads", args.threads, "--seconds", args.seconds]
    cmd = [sys.executable, __file__, *map(str, options), "--child", probe, "--shape", ",".join(map(str, shape))]
    return json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)


def compare(shape: tuple[int, ...], args: argparse.Namespace) -> dict:
    """Both probes on a (C, T, H, W) map: the map, the cache's size, each probe's figures."""
    per_video = 4 * math.prod(shape)
    linear, attentive = in_child("linear", shape, args), in_child("attentive", shape, args)
    return {
        "map": list(shape),
        "tokens": math.prod(shape[1:]),
        "cache_bytes_per_video_f32": per_video,
        "cache_gib_f32": round(args.videos * per_video / 2**30, 3),
        "cache_gib_bf16": round(args.videos * per_video / 2 / 2**30, 3),
        "linear_s_per_epoch": round(linear["s_per_epoch"], 5),
        "attentive_s_per_epoch": round(attentive["s_per_epoch"], 3),
        "attentive_over_linear": round(attentive["s_per_epoch"] / linear["s_per_epoch"], 1),
        "linear_peak_mib": round(linear["peak_mib"], 1),
        "attentive_peak_mib": round(attentive["peak_mib"], 1),
        "linear_epochs_timed": linear["epochs"],
        "attentive_epochs_timed": attentive["epochs"],
        "linear_params": linear["params"],
        "attentive_params": attentive["params"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=512, help="cached videos (features or maps) an epoch")
    parser.add_argument("--classes", type=int, default=101, help="classes of the labels")
    parser.add_argument("--batch", type=int, default=32, help="the attentive probe's batch")
    parser.add_argument("--linear-batch", type=int, default=256, help="the linear probe's batch (fit_linear_probe's)")
    parser.add_argument("--frames", default="16,32", help="frames a clip, comma-separated: one map each")
    parser.add_argument("--width", type=int, default=PoolerSpec.width, help="the pooler's token width")
    parser.add_argument("--self-blocks", type=int, default=PoolerSpec.self_blocks, help="self-attention blocks")
    parser.add_argument("--heads", type=int, default=PoolerSpec.heads, help="attention heads")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default all)")
    parser.add_argument("--seconds", type=float, default=1.0, help="epochs repeated until this long: the median")
    parser.add_argument("--child", choices=("linear", "attentive"), help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(run_probe(args.child, tuple(int(n) for n in args.shape.split(",")), args)))
        return
    frames = [int(n) for n in args.frames.split(",")]
    result = {
        "encoder": ENCODER,
        "crop": CROP,
        "videos": args.videos,
        "classes": args.classes,
        "batch": args.batch,
        "linear_batch": args.linear_batch,
        "seconds": args.seconds,
        "pooler": {"width": args.width, "self_blocks": args.self_blocks, "heads": args.heads},
        "frames": {n: compare(shape, args) for n, shape in feature_maps(frames).items()},
        "torch": torch.__version__,
        "threads": args.threads,
        "date": datetime.now().isoformat(timespec="seconds"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
