"""Training throughput of CVRLModule, measured side by side in one run; prints one JSON line.

For each variant (precision, memory format, torch.compile), two Lightning runs of the same model and batch:
- ceiling: the same batch, already on the device, every step (the model's own speed: no data loading at all)
- end_to_end: the real DALI pipeline (CVRLDataModule) over generated videos
Their ratio is the input pipeline's efficiency. Rates are clips per second (aug.num_clips clips per video per step:
two, or rho with a variant part rho3 / rho4, e.g. --variants fp32,fp32+rho4 measures both side by side). The end
to end run also reports its data wait: the fraction of its time spent between steps, waiting for batches. A ratio
below 1 with little wait means the pipeline slows the steps down (on a CPU it shares the cores), not starves them.
With --rounds N every variant runs N times in turn, and the figures are the medians.

    python benchmarks/bench_train.py                                          # a small CPU-sized model
    python benchmarks/bench_train.py --encoder r3d50 --base-channels 64 --frames 16 --size 224 --batch max \\
        --codec h264 --variants bf16,bf16+cl,bf16+cl+compile                 # a GPU: the largest batch that fits
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from bench_videos import ENCODERS, make_videos, video_folder  # benchmarks/bench_videos.py
from omegaconf import DictConfig

from cvrl_pl.callbacks.throughput import StepTimer, batch_clips
from cvrl_pl.config import load_config
from cvrl_pl.data.bad_videos import is_out_of_memory
from cvrl_pl.data.batches import pretrain_batch
from cvrl_pl.data.datamodule import CVRLDataModule
from cvrl_pl.module import CVRLModule

VARIANTS = {  # name part -> config overrides
    "fp32": ["trainer.precision=32-true"],
    "bf16": ["trainer.precision=bf16-mixed"],
    "cl": ["model.channels_last_3d=true"],
    "compile": ["model.compile=true"],
    "rho3": ["aug.num_clips=3"],
    "rho4": ["aug.num_clips=4"],
}


class Throughput(pl.Callback):
    """Times the steps after ``warmup`` until ``seconds`` have passed, then stops the run."""

    def __init__(self, warmup: int, seconds: float):
        self.warmup, self.seconds = warmup, seconds
        self.steps, self.elapsed, self._start = 0, 0.0, None
        self.host = StepTimer()  # the timed steps' clips, and the wait for batches between them

    def _now(self, module: pl.LightningModule) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize()  # only at the two ends of the measurement
        return time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self._start = self._now(pl_module)
        if self._start is not None:
            self.host.step_start()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._start is None:
            return
        self.host.step_end(batch_clips(batch))
        self.steps += 1
        if self.steps % 5 == 0 and self._now(pl_module) - self._start >= self.seconds:
            self.elapsed = self._now(pl_module) - self._start
            trainer.should_stop = True


class RepeatedBatch:
    """``steps`` times the same batch, made once on the device: a loader that costs nothing."""

    def __init__(self, batch: dict[str, torch.Tensor], steps: int):
        self.batch, self.steps = batch, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        return (self.batch for _ in range(self.steps))


def config(args: argparse.Namespace, root: Path, variant: str, batch: int) -> DictConfig:
    overrides = [
        "data.source=video",
        f"data.root={root}",
        f"data.num_frames={args.frames}",
        f"data.crop_size={args.size}",
        f"data.batch_size={batch}",
        f"data.num_workers={args.workers}",
        f"data.dali_threads={args.threads}",
        f"model.encoder={args.encoder}",
        f"model.base_channels={args.base_channels}",
        "logger.wandb.mode=disabled",
    ]
    for part in variant.split("+"):
        overrides += VARIANTS[part]
    return load_config(None, overrides)


def measure(cfg: DictConfig, device: str, data: str, *, warmup: int, seconds: float) -> tuple[float, float]:
    """Clips/s and the data wait (a fraction of the time) of a training run with ``data`` = ceiling or end_to_end."""
    timer = Throughput(warmup, seconds)
    trainer = pl.Trainer(
        accelerator=device,
        devices=1,
        precision=cfg.trainer.precision,
        max_steps=100_000,
        max_epochs=100_000,  # finite, so Lightning sizes an epoch (the LR warm-up is in epochs)
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        benchmark=device == "gpu",
    )
    module = CVRLModule(cfg)
    if data == "ceiling":
        d = cfg.data
        rho = cfg.aug.num_clips
        shape = (d.batch_size, rho * d.num_frames, d.crop_size, d.crop_size, 3)  # as the pipeline delivers it
        views = torch.rand(shape, device="cuda" if device == "gpu" else "cpu")
        batch = pretrain_batch({"views": views}, num_views=rho)
        trainer.fit(module, train_dataloaders=RepeatedBatch(batch, 100_000))
    else:
        trainer.fit(module, datamodule=CVRLDataModule(cfg))
    del trainer, module
    gc.collect()
    if device == "gpu":
        torch.cuda.empty_cache()
    return timer.host.clips / timer.elapsed, timer.host.wait_fraction


def out_of_memory(error: BaseException) -> bool:
    """An error that says the GPU is full (torch's or DALI's), after which the cache is emptied for the next try."""
    if not is_out_of_memory(error):
        return False
    gc.collect()
    torch.cuda.empty_cache()
    return True


def largest_batch(args: argparse.Namespace, root: Path, variant: str) -> int:
    """The largest power of two (then +50% if that fits too) whose training step fits in GPU memory WITH the input
    pipeline running (its decoder and memory pool take GPU memory too): sized end to end, not on a data-free step."""

    def fits(batch: int) -> bool:
        try:
            measure(config(args, root, variant, batch), "gpu", "end_to_end", warmup=1, seconds=0.0)
            return True
        except Exception as exc:
            if out_of_memory(exc):
                return False
            raise

    batch = 4
    while fits(batch * 2):
        batch *= 2
    return batch * 3 // 2 if fits(batch * 3 // 2) else batch


def measure_backing_off(args: argparse.Namespace, root: Path, variant: str, batch: int) -> tuple[int, list[float]]:
    """(batch, [ceiling, end-to-end clips/s, data wait]) at ``batch``, or at 3/4 of it, again and again, while the GPU
    runs out of memory (a batch sized in one run can still miss by a little in the next)."""
    while True:
        cfg = config(args, root, variant, batch)
        try:
            ceiling, _ = measure(cfg, args.device, "ceiling", warmup=args.warmup, seconds=args.seconds)
            end_to_end, wait = measure(cfg, args.device, "end_to_end", warmup=args.warmup, seconds=args.seconds)
            return batch, [ceiling, end_to_end, wait]
        except Exception as exc:
            if batch <= 1 or not out_of_memory(exc):
                raise
            batch = max(1, batch * 3 // 4)
            print(f"{variant}: out of GPU memory; backing off to batch {batch}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="r3d18")
    parser.add_argument("--base-channels", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--size", type=int, default=64, help="crop size")
    parser.add_argument("--batch", default="8", help="videos per step (2 clips each, rho with rhoN), or max (GPU)")
    parser.add_argument(
        "--variants", default=None, help="comma-separated, parts joined by +: fp32 bf16 cl compile rho3 rho4"
    )
    parser.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--video-frames", type=int, default=100)
    parser.add_argument("--gop", type=int, default=50, help="a keyframe every GOP frames (as bench_data.py)")
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="vp9")
    parser.add_argument("--workers", type=int, default=2, help="DALI Python workers")
    parser.add_argument("--threads", type=int, default=2, help="DALI threads")
    parser.add_argument("--warmup", type=int, default=3, help="steps before timing (compilation, autotuning)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per run")
    parser.add_argument("--rounds", type=int, default=1, help="times each variant is run, in turn (medians)")
    parser.add_argument("--video-dir", type=Path, help="keep (and reuse) the generated videos here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    default = "bf16,bf16+cl,bf16+cl+compile,fp32" if args.device == "gpu" else "fp32,fp32+cl,fp32+compile,bf16"
    variants = (args.variants or default).split(",")

    results = {}
    with video_folder(args.video_dir) as tmp:
        size = (args.width, args.height)
        make_videos(Path(tmp), args.videos, args.video_frames, size=size, codec=args.codec, gop=args.gop)
        batches = {v: largest_batch(args, Path(tmp), v) if args.batch == "max" else int(args.batch) for v in variants}
        runs = {v: [] for v in variants}
        for _ in range(args.rounds):  # every variant in turn, each round: a slow minute of a shared machine is spread
            for variant, batch in batches.items():
                batches[variant], figures = measure_backing_off(args, Path(tmp), variant, batch)
                runs[variant].append(figures)
        for variant, batch in batches.items():
            ceiling, end_to_end, wait = (statistics.median(x) for x in zip(*runs[variant], strict=True))
            results[variant] = {
                "batch": batch,
                # 4 significant digits: at a few clips/s (a CPU), one decimal would blur the ratio below
                "ceiling_clips_s": float(f"{ceiling:.4g}"),
                "end_to_end_clips_s": float(f"{end_to_end:.4g}"),
                "end_to_end_vs_ceiling": round(end_to_end / ceiling, 3),
                "end_to_end_data_wait": round(wait, 3),
            }
    base = results[variants[0]]["ceiling_clips_s"]
    for r in results.values():
        r[f"ceiling_vs_{variants[0]}"] = round(r["ceiling_clips_s"] / base, 3)
    figures = {
        "model": f"{args.encoder} (base {args.base_channels}), {args.frames}x{args.size}x{args.size} clips",
        "videos": f"{args.videos} x {args.video_frames} frames, {args.width}x{args.height}, {args.codec}",
        "device": torch.cuda.get_device_name() if args.device == "gpu" else "cpu",
        "variants": results,
    }
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
