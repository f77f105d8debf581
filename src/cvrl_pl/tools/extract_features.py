"""Pooled encoder features of every video of a split, out of the framework into any other tool.

    python -m cvrl_pl.tools.extract_features --encoder ENC --root DIR [--layout auto] [--views 10,3] --out FILE.npz

ENC is a pretraining checkpoint or an exported encoder (python -m cvrl_pl.tools.export). Each video's feature is the
pooled backbone vector averaged over its test views, decoded and cropped as the probes and the linear evaluation's
test do (the ``eval.*`` defaults: 32 frames at stride 2, 10 x 3 views, short side 256, 256 crops). FILE.npz holds
``ids`` (paths relative to the root), ``labels`` (class indices, -1 unlabelled; a multi-label split's (charades)
multi-hot uint8 rows), ``classes``, ``features`` (N, D; float32, or float16 with --float16) and ``config`` (one JSON
string: the arguments, the encoder file and its architecture), all plain arrays (``np.load(FILE)`` needs no
pickle). Rows are saved every --chunk batches into FILE.npz.partial/; a run that was interrupted resumes after its
last saved chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from tqdm import tqdm

from cvrl_pl.config import ConfigError, load_config
from cvrl_pl.data.datamodule import EvalClips, eval_loader, split_index
from cvrl_pl.errors import DatasetError
from cvrl_pl.eval.features import clip_features, label_array, video_features
from cvrl_pl.models import build_encoder
from cvrl_pl.models.encoder_file import read_encoder

SPLIT_KEYS = ("layout", "csv", "annotations", "split", "subset")  # passed on as data.<key>


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    e = load_config().eval
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, type=Path, help="a pretraining checkpoint or an exported encoder")
    parser.add_argument("--root", required=True, help="the split's root folder")
    parser.add_argument("--out", required=True, type=Path, help="the .npz file to write")
    parser.add_argument("--layout", default="auto", help="as data.layout")
    for key in SPLIT_KEYS[1:]:
        parser.add_argument(f"--{key}", help=f"as data.{key}")
    parser.add_argument("--views", default=f"{e.num_temporal},{e.num_spatial}", help="clips per video, crops per clip")
    parser.add_argument("--frames", type=int, default=e.num_frames, help="frames per clip")
    parser.add_argument("--stride", type=int, default=e.stride, help="temporal stride")
    parser.add_argument("--crop", type=int, default=e.test_crop_size, help="side of each square crop")
    parser.add_argument("--short-side", type=int, default=e.short_side, help="short side after resizing")
    parser.add_argument("--batch", type=int, default=e.batch_size, help="test views per batch")
    parser.add_argument("--workers", type=int, default=2, help="decoding worker processes (data.num_workers)")
    parser.add_argument("--device", default="auto", help="where the encoder runs: auto, cpu or gpu")
    parser.add_argument("--float16", action="store_true", help="store the features as float16")
    parser.add_argument("--chunk", type=int, default=50, help="batches between saves of the rows (resuming)")
    return parser.parse_args(argv)


def run_config(args: argparse.Namespace, arch: dict) -> dict:
    """What made the features: the arguments that change them, the encoder file and its architecture."""
    keep = ("root", "layout", *SPLIT_KEYS[1:], "views", "frames", "stride", "crop", "short_side", "batch", "float16")
    return {**{k: getattr(args, k) for k in keep}, "encoder": str(args.encoder.resolve()), "arch": arch}


def saved_rows(partial: Path, config: dict) -> tuple[list[tuple[torch.Tensor, ...]], int]:
    """The rows of an interrupted run of the same config, and the batches they cover; none for another config."""
    manifest = partial / "config.json"
    if not manifest.is_file() or json.loads(manifest.read_text()) != config:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        manifest.write_text(json.dumps(config))
        return [], 0
    rows, batches = [], 0
    for chunk in sorted(partial.glob("chunk_[0-9][0-9][0-9][0-9][0-9][0-9].npz")):
        with np.load(chunk) as z:
            rows.append(tuple(torch.from_numpy(z[k]) for k in ("values", "labels", "video_ids", "clip_ids")))
            batches += int(z["batches"])
    return rows, batches


def savez_atomic(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` to a temporary name, then renamed: never a half-written file under ``path``."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_chunk(partial: Path, rows: list[tuple[torch.Tensor, ...]], number: int) -> None:
    """``rows`` (one per batch) as the chunk ``number``."""
    values, labels, video_ids, clip_ids = (torch.cat(t).numpy() for t in zip(*rows, strict=True))
    arrays = {"values": values, "labels": labels, "video_ids": video_ids, "clip_ids": clip_ids}
    savez_atomic(partial / f"chunk_{number:06d}.npz", **arrays, batches=np.array(len(rows)))


def extract(args: argparse.Namespace) -> Path:
    """Write ``args.out``; returns it."""
    num_temporal, num_spatial = (int(v) for v in args.views.split(","))
    splits = {k: getattr(args, k) for k in SPLIT_KEYS if getattr(args, k) is not None}
    overrides = [f"data.root={args.root}", f"data.num_workers={args.workers}"]
    cfg = load_config(None, overrides + [f"data.{k}={v}" for k, v in splits.items()])
    state, arch, _ = read_encoder(args.encoder)
    encoder = build_encoder(**arch)
    encoder.load_state_dict(state)
    index = split_index(cfg.data, section="data", progress=True)

    accelerator = {"auto": "auto", "cpu": "cpu", "gpu": "gpu"}[args.device]
    trainer = pl.Trainer(accelerator=accelerator, devices=1, logger=False, enable_progress_bar=False)
    device = trainer.strategy.root_device
    encoder.to(device).eval()

    config = run_config(args, arch)
    partial = Path(f"{args.out}.partial")
    rows, done = saved_rows(partial, config)
    if done:
        print(f"resuming after {done} batches saved in {partial}", file=sys.stderr)
    clips = EvalClips(args.frames, args.stride, args.crop, num_temporal, num_spatial, args.short_side)
    loader = eval_loader(cfg, index, trainer, mode="test", batch_size=args.batch, clips=clips, start=done)
    chunks, pending = len(rows), []  # a saved chunk reads back as one row
    with tqdm(total=len(loader), initial=done, desc="features", unit="batch") as bar:
        for batch in loader:
            pending.append(tuple(t.cpu() for t in clip_features(encoder, batch, device)))
            bar.update(1)
            if len(pending) == args.chunk:
                save_chunk(partial, pending, chunks)
                rows, chunks, pending = rows + pending, chunks + 1, []
    rows += pending
    videos = video_features(rows)
    ids = videos.video_ids.numpy()
    features = videos.features.numpy().astype(np.float16 if args.float16 else np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    savez_atomic(
        args.out,
        ids=np.array([index.videos.paths[int(i)] for i in ids], dtype=str),
        labels=label_array(videos.labels),
        classes=np.array(index.classes, dtype=str),
        features=features,
        config=np.array(json.dumps(config)),
    )
    shutil.rmtree(partial, ignore_errors=True)
    print(f"wrote {args.out}: {len(ids)} videos x {features.shape[1]} features ({features.dtype})")
    return args.out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        extract(args)
    except (ConfigError, DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
