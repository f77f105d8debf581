"""Data-path throughput, measured side by side on the same videos in one run; prints one JSON line.

- pipeline: the full CVRL pretraining pipeline (one read, both clips decoded in one call, two augmented views)
- decode_only: the same source and decoder with no augmentation (the ceiling of the data path); the decoder gets
  only the packets each sample needs (dali_pipelines/packets.py)
- decode_whole: the same, handing the decoder the whole file, decoded from frame 0 (how the pipeline decoded before
  packets.py); the JSON line's sparse_vs_whole is decode_only / decode_whole
- baseline: PyAV decoding + the same augmentation in torch ops, in a DataLoader with the same number of workers
- decord: the same with decord's ``get_batch`` decoding; decord_decode_only: decord's decoding alone (uint8 frames
  batched by the DataLoader), beside decode_only. Timed when decord is installed (requirements-decord.txt)
- with --stages, also the pipeline with its steps added one at a time (crop + flip, + colour, + blur, + solarize)
  and what each step adds, in ms per clip (differences of rates: run long enough, --seconds 20, to trust them)
- with --guarded, also the pipeline through the training loader (DaliLoader with its guard against videos that
  fail to decode), to show what that robustness costs when nothing fails
- with --num-clips 4 (say), also the pipeline with rho = 4 clips per video (aug.num_clips; the paper's two
  views' blur and solarize alternating over the clips), all rho read in one decoder call

Rates are clips per second (two clips per video, rho in a rho variant). Example:
    python benchmarks/bench_data.py --videos 16 --width 340 --height 256 --seconds 10 --num-clips 4
    python benchmarks/bench_data.py --device gpu --codec h264 --num-frames 16 --crop 224 --batch 32  # a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from baselines import DECORD_MISSING, ClipPairs, decord_installed, endless_batches  # benchmarks/baselines.py
from bench_videos import ENCODERS, make_videos, video_folder  # benchmarks/bench_videos.py
from nvidia.dali.pipeline import pipeline_def
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from cvrl_pl.data.bad_videos import BadVideoGuard
from cvrl_pl.data.decoding import device_capability
from cvrl_pl.data.loader import DaliLoader
from dali_pipelines.decoders import DECODER_NAMES, PYAV, decoder_for
from dali_pipelines.graph import decode, pipeline_kwargs, read_samples
from dali_pipelines.params import ViewAugConfig, per_clip
from dali_pipelines.pretrain import OUTPUTS, pretrain_pipeline
from dali_pipelines.sources import PretrainSource


def rate(batches: Iterator, clips_per_batch: int, seconds: float, warmup: int = 2) -> float:
    """Clips/s over ``seconds`` of iterating ``batches`` after ``warmup`` batches."""
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        count += 1
    return count * clips_per_batch / (time.perf_counter() - start)


def dali_batches(pipe, names):
    """Endless batches from a DALI pipeline (resetting at epoch ends)."""
    iterator = DALIGenericIterator(pipe, list(names), auto_reset=True)
    while True:
        yield from iterator


def bytes_handed(source: PretrainSource, samples: int = 32) -> float:
    """Mean bytes per sample handed to the decoder (the kept packets, remuxed, or the whole file) over the first
    ``samples`` samples of epoch 0; a twin of the source that decodes nothing (DALI's decoders' outputs) says."""
    options = {"num_frames": source.num_frames, "stride": source.stride, "batch_size": source.batch_size}
    twin = PretrainSource(source.table, source.views, source.temporal, **options, decoders="dali_cpu")
    sizes = []
    for i in range(min(samples, len(twin))):
        item, rng = twin.item_at(0, i)
        if twin.table.keyframes is None:
            sizes.append(Path(twin.table.paths[twin.video_of(item)]).stat().st_size)
        else:
            sizes.append(len(twin.sample(item, rng)["encoded"]))  # the remuxed packets
    return float(np.mean(sizes))


def decode_only_pipeline(source: PretrainSource, device_id: int | None, workers: int, threads: int):
    @pipeline_def(enable_conditionals=True)
    def graph():
        sample = read_samples(source, workers, 2)
        return decode(sample, "cpu" if device_id is None else "gpu")

    return graph(**pipeline_kwargs(source, device_id, num_threads=threads, py_workers=workers, seed=0, prefetch=2))


STAGES = {  # stage -> the view settings switched off, the steps added one at a time; then "solarize": the pipeline
    "crop": {"jitter_prob": 0.0, "grayscale_prob": 0.0, "blur_prob": 0.0, "solarize_prob": 0.0},
    "colour": {"blur_prob": 0.0, "solarize_prob": 0.0},
    "blur": {"solarize_prob": 0.0},
}


Variant = Callable[[], Iterator]  # builds a variant's loader and returns its endless batches


def pipeline_variant(source: PretrainSource, device_id: int | None, args: argparse.Namespace) -> Variant:
    return lambda: dali_batches(
        pretrain_pipeline(source, device_id, num_threads=args.threads, py_workers=args.workers), OUTPUTS
    )


def guarded_variant(source: PretrainSource, device_id: int | None, args: argparse.Namespace) -> Variant:
    """The same pipeline through the training loader, whose guard against videos that fail to decode (catching
    the pipeline's errors, the per-epoch check for other ranks' reports) is what this variant adds."""

    def build(src: PretrainSource):
        return pretrain_pipeline(src, device_id, num_threads=args.threads, py_workers=args.workers)

    def batches() -> Iterator:
        guard = BadVideoGuard(None, max_batch_share=0.5, max_epoch_share=0.1, device_id=device_id)
        loader = DaliLoader(
            source, build=build, names=OUTPUTS, progress=lambda: (0, 0), transform=lambda b: b, guard=guard
        )
        while True:
            yield from loader

    return batches


def stage_variants(source: PretrainSource, device_id: int | None, args: argparse.Namespace) -> dict[str, Variant]:
    """The pipeline with only the steps up to each stage of ``STAGES``."""
    variants = {}
    for stage, off in STAGES.items():
        views = tuple(dataclasses.replace(v, **off) for v in source.views)
        kwargs = dict(num_frames=source.num_frames, stride=source.stride, batch_size=source.batch_size)
        variant = PretrainSource(source.table, views, source.temporal, **kwargs, decoders=source.decoders)
        variants[stage] = pipeline_variant(variant, device_id, args)
    return variants


def interleaved_rates(
    variants: dict[str, Variant], clips_per_batch: dict[str, int], seconds: float, rounds: int
) -> dict[str, float]:
    """Median clips/s of each variant over ``rounds`` rounds that time every variant in turn for seconds/rounds.

    Timing the variants in turn, several times, keeps a slow minute of a shared machine from landing on one of
    them. Each timing builds its variant afresh and releases it after, so no other loader runs in the background.
    """
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, build in variants.items():
            batches = build()
            times[name].append(rate(batches, clips_per_batch[name], seconds / rounds))
            del batches
            gc.collect()
    return {name: statistics.median(r) for name, r in times.items()}


def step_costs(rates: dict[str, float]) -> dict[str, float]:
    """ms per clip that each stage adds to the one before it (rates in clips/s, in stage order)."""
    return {b: round(1000 * (1 / rates[b] - 1 / rates[a]), 2) for a, b in itertools.pairwise(rates)}


def rho_views(views: tuple[ViewAugConfig, ViewAugConfig], rho: int) -> tuple[ViewAugConfig, ...]:
    """rho views from the paper's two, their blur and solarize probabilities spread over the clips as training does
    (params.per_clip)."""
    blur, solarize = (per_clip([getattr(v, key) for v in views], rho) for key in ("blur_prob", "solarize_prob"))
    return tuple(
        dataclasses.replace(views[0], blur_prob=b, solarize_prob=s) for b, s in zip(blur, solarize, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--video-seconds", type=float, default=10.0, help="length of the generated videos (25 fps)")
    parser.add_argument("--frames", type=int, help="frames per generated video (default: from --video-seconds)")
    parser.add_argument("--gop", type=int, default=50, help="a keyframe every GOP frames in the generated videos")
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--num-frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    parser.add_argument("--seconds", type=float, default=12.0, help="measuring time per variant, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="times each variant is timed, in turn (median)")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="vp9")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu: DALI mixed decoding, GPU ops")
    parser.add_argument(
        "--decoder", choices=["auto", "pyav"], default="auto", help="as data.decoder: by the routing table, or PyAV"
    )
    parser.add_argument("--video-dir", type=Path, help="keep (and reuse) the generated videos here")
    parser.add_argument("--stages", action="store_true", help="also time the steps one at a time")
    parser.add_argument("--guarded", action="store_true", help="also time the pipeline through the training loader")
    parser.add_argument("--num-clips", default="", help="also time the pipeline at these rho (comma-separated)")
    parser.add_argument(
        "--thread-sweep", default="", help="also time the pipeline with these DALI thread counts (comma-separated)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    args.frames = args.frames or round(args.video_seconds * 25)

    device_id = 0 if args.device == "gpu" else None
    with video_folder(args.video_dir) as tmp:
        size = (args.width, args.height)
        table = make_videos(Path(tmp), args.videos, args.frames, size=size, codec=args.codec, gop=args.gop)
        view1 = ViewAugConfig(crop_size=args.crop, blur_prob=1.0)
        view2 = ViewAugConfig(crop_size=args.crop, blur_prob=0.1, solarize_prob=0.2)
        source_args = dict(num_frames=args.num_frames, stride=args.stride, batch_size=args.batch)
        # every video is one format: 8-bit 4:2:0 (bench_videos.make_videos)
        routed = decoder_for(args.codec, 8, "4:2:0", device_capability(device_id))
        decoder = DECODER_NAMES[routed if args.decoder == "auto" else PYAV]
        source = PretrainSource(table, (view1, view2), {"distribution": "decreasing"}, **source_args, decoders=decoder)
        whole_table = dataclasses.replace(table, keyframes=None, keyframe_pts=None)
        whole = PretrainSource(whole_table, source.views, source.temporal, **source_args, decoders=decoder)
        handed = {"sparse": bytes_handed(source), "whole": bytes_handed(whole)}

        def torch_loader(decoder: str, views: tuple[ViewAugConfig, ...] | None) -> Variant:
            pairs = ClipPairs(table, views, num_frames=args.num_frames, stride=args.stride, decoder=decoder)
            return lambda: endless_batches(pairs, batch=args.batch, workers=args.workers)

        decord = decord_installed()
        if not decord:
            print(f"decord: {DECORD_MISSING}; its baselines are left out", file=sys.stderr)

        rhos = [int(r) for r in args.num_clips.split(",") if r]
        sweep = [int(t) for t in args.thread_sweep.split(",") if t]
        many = {
            rho: PretrainSource(table, rho_views((view1, view2), rho), source.temporal, **source_args, decoders=decoder)
            for rho in rhos
        }
        variants = {
            "pipeline": pipeline_variant(source, device_id, args),
            "decode_only": lambda: dali_batches(
                decode_only_pipeline(source, device_id, args.workers, args.threads), ["a"]
            ),
            "decode_whole": lambda: dali_batches(
                decode_only_pipeline(whole, device_id, args.workers, args.threads), ["a"]
            ),
            "baseline": torch_loader("pyav", (view1, view2)),
            **({"decord": torch_loader("decord", (view1, view2))} if decord else {}),
            **({"decord_decode_only": torch_loader("decord", None)} if decord else {}),
            **(stage_variants(source, device_id, args) if args.stages else {}),
            **({"guarded": guarded_variant(source, device_id, args)} if args.guarded else {}),
            **{f"rho{rho}": pipeline_variant(s, device_id, args) for rho, s in many.items()},
            **{
                f"threads{t}": pipeline_variant(source, device_id, argparse.Namespace(**{**vars(args), "threads": t}))
                for t in sweep
            },
        }
        clips = {name: args.batch * int(name[3:]) if name.startswith("rho") else 2 * args.batch for name in variants}
        rates = interleaved_rates(variants, clips, args.seconds, args.rounds)
        pipeline, decode_only, baseline = rates["pipeline"], rates["decode_only"], rates["baseline"]

    figures = {
        "videos": f"{args.videos} x {args.frames} frames, {args.width}x{args.height}, {args.codec}, gop {args.gop}",
        "clips": f"2 x {args.num_frames}x{args.crop}x{args.crop} per video, batch {args.batch}",
        "device": args.device,
        "decoder": decoder,
        "workers": args.workers,
        "pipeline_clips_s": round(pipeline, 1),
        "decode_only_clips_s": round(decode_only, 1),
        "baseline_clips_s": round(baseline, 1),
        "pipeline_vs_baseline": round(pipeline / baseline, 3),
        "pipeline_vs_decode_only": round(pipeline / decode_only, 3),
        "decode_whole_clips_s": round(rates["decode_whole"], 1),
        "sparse_vs_whole": round(decode_only / rates["decode_whole"], 3),
        "bytes_per_sample": round(handed["sparse"]),
        "whole_bytes_per_sample": round(handed["whole"]),
    }
    if decord:
        figures["decord_clips_s"] = round(rates["decord"], 1)
        figures["decord_decode_only_clips_s"] = round(rates["decord_decode_only"], 1)
        figures["pipeline_vs_decord"] = round(pipeline / rates["decord"], 3)
        figures["decode_only_vs_decord_decode_only"] = round(decode_only / rates["decord_decode_only"], 3)
    else:
        figures["decord"] = DECORD_MISSING
    if args.guarded:
        figures["guarded_clips_s"] = round(rates["guarded"], 1)
        figures["guarded_vs_pipeline"] = round(rates["guarded"] / pipeline, 3)
    for rho in rhos:
        figures[f"rho{rho}_clips_s"] = round(rates[f"rho{rho}"], 1)
        figures[f"rho{rho}_vs_pipeline"] = round(
            rates[f"rho{rho}"] / pipeline, 3
        )  # per clip: 1 = rho clips cost rho/2 pairs
    if sweep:  # data.dali_threads=auto's GPU rule is set from these (docs/data_pipeline.md)
        figures["threads_clips_s"] = {str(t): round(rates[f"threads{t}"], 1) for t in sweep}
    if args.stages:
        stages = {"decode": decode_only, **{stage: rates[stage] for stage in STAGES}, "solarize": pipeline}
        figures["stages_clips_s"] = {k: round(v, 1) for k, v in stages.items()}
        figures["step_ms_per_clip"] = {"decode": round(1000 / decode_only, 2), **step_costs(stages)}
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
