"""Linear evaluation against the attentive probe on the built-in demo data, side by side in one run: the same frozen
encoder, each protocol with its own config (conf/linear_eval.yaml, conf/attentive_probe.yaml) at the demo's sizes
and the same epochs, clips and test views, over ``--seeds`` (eval.seeds); prints one JSON line with each
protocol's per-seed top-1 and mean per-class top-1, their mean and sample std, and each protocol's wall time.

``--grid`` adds a third run: the attentive probe with a learning-rate x weight-decay grid of heads (eval.heads),
chosen on a quarter of each class's training videos held out, never on the test split.

The demo's pretraining gives the encoder (or any checkpoint of the same architecture, ``--arch``):

    python train.py --config conf/quickstart.yaml
    python benchmarks/bench_probe_protocols.py --init runs/quickstart/checkpoints/last.ckpt --data data/demo --grid
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The demo's clips (conf/quickstart.yaml: 8 frames every 2 of 64 x 64 videos), cropped to 48 for training and
# tested on 4 clips x 3 crops of 48 after resizing the short side to 56.
DEMO = [
    "data.batch_size=32",
    "data.num_workers=1",
    "eval.batch_size=32",
    "eval.num_frames=8",
    "eval.stride=2",
    "eval.crop_size=48",
    "eval.test_crop_size=48",
    "eval.short_side=56",
    "eval.num_temporal=4",
    "eval.num_spatial=3",
    "logger.wandb.mode=disabled",
]
# The demo encoder's feature map has 128 channels: the pooler works at that width (V-JEPA's heads, 16).
ATTENTIVE = ["eval.attentive.width=128"]
GRID = ["eval.heads.lr=[1e-4,1e-3,1e-2]", "eval.heads.weight_decay=[0.01,0.1]", "eval.heads.holdout=0.25"]


def protocol(name: str, config: str, extra: list[str], args: argparse.Namespace) -> dict:
    """One protocol over the seeds through train.py; its seeds' summary (metrics.json) and wall time."""
    seeds = ",".join(str(s) for s in args.seeds)
    command = [sys.executable, str(ROOT / "train.py"), "--config", str(ROOT / config), *DEMO, *args.arch, *extra]
    command += [f"data.root={args.data}/train", f"val.root={args.data}/val", f"model.init={args.init}"]
    command += [f"trainer.max_epochs={args.epochs}", f"eval.seeds=[{seeds}]"]
    command += [f"trainer.output_dir={args.out}", f"trainer.run_name={name}", *args.overrides]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((Path(args.out) / name / "metrics.json").read_text())
    keys = ("top1", "mean_class_top1")
    per_seed = {seed: {k: m[k] for k in keys} for seed, m in summary["seeds"].items()}
    chosen = {seed: m["heads"][m["chosen_head"]] for seed, m in summary["seeds"].items() if "heads" in m}
    result = {
        "seeds": per_seed,
        "mean": {k: summary["mean"][k] for k in keys},
        "std": {k: summary["std"][k] for k in keys},
        "seconds": round(seconds, 1),
    }
    return {**result, "chosen": chosen} if chosen else result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--init", required=True, help="the frozen encoder: a pretraining checkpoint or an export")
    parser.add_argument("--data", default="data/demo", help="the demo dataset (train/ and val/)")
    parser.add_argument("--out", default="runs/bench_probe_protocols")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=20, help="epochs of every protocol (V-JEPA's probe: 20)")
    parser.add_argument("--grid", action="store_true", help="also the attentive probe with a grid of heads")
    parser.add_argument(
        "--arch",
        nargs="*",
        default=["model.encoder=r3d18", "model.base_channels=16"],
        help="the encoder's architecture keys (the demo's by default)",
    )
    parser.add_argument("overrides", nargs="*", help="key=value for every protocol")
    args = parser.parse_args()
    runs = {
        "linear_eval": protocol("linear_eval", "conf/linear_eval.yaml", [], args),
        "attentive_probe": protocol("attentive_probe", "conf/attentive_probe.yaml", ATTENTIVE, args),
    }
    if args.grid:
        runs["attentive_grid"] = protocol("attentive_grid", "conf/attentive_probe.yaml", [*ATTENTIVE, *GRID], args)
    gap = runs["attentive_probe"]["mean"]["top1"] - runs["linear_eval"]["mean"]["top1"]
    out = {"init": args.init, "epochs": args.epochs, "runs": runs, "attentive_minus_linear_top1": round(gap, 2)}
    print(json.dumps({**out, "date": datetime.now().isoformat(timespec="seconds")}))


if __name__ == "__main__":
    main()
