"""Data-path throughput, measured side by side on the same videos in one run; prints one JSON line.

- pipeline: the full CVRL pretraining pipeline (one read, both clips decoded in one call, two augmented views)
- decode_only: the same source and decoder with no augmentation (the ceiling of the data path)
- baseline: PyAV decoding + the same augmentation in torch ops, in a DataLoader with the same number of workers

Rates are clips per second (two clips per video). Example:
    python benchmarks/bench_data.py --videos 16 --width 340 --height 256 --seconds 10
    python benchmarks/bench_data.py --device gpu --codec h264 --num-frames 16 --crop 224 --batch 32  # a GPU
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_videos import ENCODERS, make_videos, video_folder  # benchmarks/bench_videos.py
from nvidia.dali.pipeline import pipeline_def
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from cvrl_pl.data.datamodule import choose_decoder
from cvrl_pl.data.generated import random_resized_crop_flip
from dali_pipelines.params import ViewAugConfig, blur_window, colour_maps
from dali_pipelines.pretrain import OUTPUTS, pretrain_pipeline
from dali_pipelines.sampling import clip_frame_indices, sample_clip_starts
from dali_pipelines.sources import PretrainSource, VideoTable, decode, decode_pyav, pipeline_kwargs, read_samples


def rate(batches, batch_size: int, seconds: float, warmup: int = 2) -> float:
    """Clips/s (2 per video) over ``seconds`` of iterating ``batches`` after ``warmup`` batches."""
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(it)
        count += 1
    return 2 * count * batch_size / (time.perf_counter() - start)


def dali_batches(pipe, names):
    """Endless batches from a DALI pipeline (resetting at epoch ends)."""
    iterator = DALIGenericIterator(pipe, list(names), auto_reset=True)
    while True:
        yield from iterator


def decode_only_pipeline(source: PretrainSource, device_id: int | None, workers: int, threads: int):
    @pipeline_def
    def graph():
        sample = read_samples(source, workers, 2)
        return decode(sample["video"], sample["frames"], source.decoder, "cpu" if device_id is None else "gpu")

    return graph(**pipeline_kwargs(source, device_id, threads, workers, 0, 2))


def blur_torch(view: torch.Tensor, sigma: float, window: int) -> torch.Tensor:
    """Separable Gaussian blur of a (C, T, H, W) clip, one sigma for every frame."""
    x = torch.arange(window, dtype=torch.float32) - window // 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = (k / k.sum()).repeat(3, 1, 1, 1)  # (3, 1, 1, window): depthwise
    frames = view.permute(1, 0, 2, 3)  # T, C, H, W
    frames = torch.nn.functional.conv2d(frames, k, padding=(0, window // 2), groups=3)
    frames = torch.nn.functional.conv2d(frames, k.transpose(2, 3), padding=(window // 2, 0), groups=3)
    return frames.permute(1, 0, 2, 3)


class TorchPairs(torch.utils.data.Dataset):
    """The baseline: PyAV decode of both clips, then the same augmentation in plain torch ops."""

    def __init__(self, table: VideoTable, views: tuple[ViewAugConfig, ...], num_frames: int, stride: int):
        self.table, self.views, self.num_frames, self.stride = table, views, num_frames, stride

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        length = int(self.table.num_frames[i])
        starts = sample_clip_starts(length, self.num_frames, self.stride, rng)
        idx = np.concatenate([clip_frame_indices(s, self.num_frames, self.stride, length) for s in starts])
        frames = torch.from_numpy(decode_pyav(self.table.paths[i], idx)).permute(0, 3, 1, 2).float() / 255
        views = []
        for clip, c in zip(frames.split(self.num_frames), self.views, strict=True):
            view = random_resized_crop_flip(clip, c.crop_size, c.crop_area, c.crop_aspect, c.flip_prob, rng)
            a, b = colour_maps(rng, rng.random() < c.jitter_prob, c.strength, rng.random() < c.grayscale_prob)
            a, b = torch.from_numpy(a), torch.from_numpy(b)
            mu = view.mean(dim=(1, 2, 3))
            view = (torch.einsum("ij,jthw->ithw", a, view) + (b @ mu)[:, None, None, None]).clamp(0, 1)
            if rng.random() < c.blur_prob:
                view = blur_torch(view, rng.uniform(*c.blur_sigma), blur_window(c.crop_size))
            if rng.random() < c.solarize_prob:
                view = torch.where(view >= 0.5, 1 - view, view)
            views.append(view)
        return views[0], views[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=100, help="frames per generated video")
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--num-frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per variant")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="vp9")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu: DALI mixed decoding, GPU ops")
    parser.add_argument("--video-dir", type=Path, help="keep (and reuse) the generated videos here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    device_id = 0 if args.device == "gpu" else None
    with video_folder(args.video_dir) as tmp:
        table = make_videos(Path(tmp), args.videos, args.frames, args.width, args.height, args.codec)
        view1 = ViewAugConfig(crop_size=args.crop, blur_prob=1.0)
        view2 = ViewAugConfig(crop_size=args.crop, blur_prob=0.1, solarize_prob=0.2)
        source_args = dict(num_frames=args.num_frames, stride=args.stride, batch_size=args.batch)
        decoder = choose_decoder("auto", device_id is not None, {args.codec})
        source = PretrainSource(table, (view1, view2), {"distribution": "decreasing"}, **source_args, decoder=decoder)

        # One variant at a time: each pipeline is released before the next starts (no prefetching in the background).
        full = pretrain_pipeline(source, device_id, args.threads, args.workers)
        pipeline = rate(dali_batches(full, OUTPUTS), args.batch, args.seconds)
        del full
        gc.collect()
        decode_only = rate(
            dali_batches(decode_only_pipeline(source, device_id, args.workers, args.threads), ("frames",)),
            args.batch,
            args.seconds,
        )
        gc.collect()
        loader = torch.utils.data.DataLoader(
            TorchPairs(table, (view1, view2), args.num_frames, args.stride),
            batch_size=args.batch,
            shuffle=True,
            drop_last=True,
            num_workers=args.workers,
            persistent_workers=True,
        )
        baseline = rate((b for _ in iter(int, 1) for b in loader), args.batch, args.seconds)

    figures = {
        "videos": f"{args.videos} x {args.frames} frames, {args.width}x{args.height}, {args.codec}",
        "clips": f"2 x {args.num_frames}x{args.crop}x{args.crop} per video, batch {args.batch}",
        "device": args.device,
        "decoder": decoder,
        "workers": args.workers,
        "pipeline_clips_s": round(pipeline, 1),
        "decode_only_clips_s": round(decode_only, 1),
        "baseline_clips_s": round(baseline, 1),
        "pipeline_vs_baseline": round(pipeline / baseline, 3),
        "pipeline_vs_decode_only": round(pipeline / decode_only, 3),
    }
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
