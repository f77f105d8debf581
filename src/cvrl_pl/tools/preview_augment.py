"""Show what the training pipeline feeds the model: all rho (aug.num_clips) views of N videos, every frame.

``python -m cvrl_pl.tools.preview_augment --config FILE [key=value ...] --num N --out DIR`` writes
DIR/preview.png (one row per sample: view 1's frames, a gap, view 2's frames, ...), DIR/views.npy (float32,
N x rho x C x T x H x W in [0, 1]) and DIR/samples.json (path, clip starts, stride, frames; in views.npy's order).
It runs the real training DataModule, so what it shows is what training sees.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cvrl_pl.config import load_config
from cvrl_pl.data.datamodule import CVRLDataModule
from cvrl_pl.data.preview import grid, stacked_views
from cvrl_pl.errors import ConfigError, DatasetError


def preview(cfg, num: int, out: Path) -> dict:
    """Draw ``num`` training samples from the pipeline that ``cfg`` builds and write the three files."""
    datamodule = CVRLDataModule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    views = stacked_views(batch, num)
    samples = [
        {
            "path": str(datamodule.index.ref(int(vid))),
            "starts": [int(s) for s in starts],
            "stride": cfg.data.stride,
            "num_frames": cfg.data.num_frames,
        }
        for vid, starts in zip(batch["video_id"].tolist(), batch["starts"].tolist(), strict=True)
    ][:num]
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "views.npy", views.astype(np.float32))
    (out / "samples.json").write_text(json.dumps(samples, indent=1))
    import matplotlib.pyplot as plt  # only this tool needs it

    plt.imsave(out / "preview.png", grid(views))
    return {"views": views.shape, "samples": len(samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="training config (YAML)")
    parser.add_argument("--num", type=int, default=8, help="number of samples")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
    args = parser.parse_args(argv)
    try:
        # One batch of exactly --num videos, read in index order from the first shard.
        cfg = load_config(args.config, [*args.overrides, f"data.batch_size={args.num}"])
        info = preview(cfg, args.num, args.out)
    except (ConfigError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}/preview.png, views.npy {info['views']}, samples.json ({info['samples']} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
