"""NT-Xent cost against the global batch size and the clips per video, measured in one run; prints one JSON line.

For each number of clips per video rho and global batch N (the logits are rho N x rho N), the time of the loss's
forward and backward and its peak memory: on a GPU the peak of the CUDA allocator, on a CPU the peak resident
memory of a fresh process per size (over its resident memory just before the loss). The logits grow as
(rho N)^2, so time and memory should grow about 4x per doubling of N once N is large, and (rho / 2)^2 over rho = 2
at the same N. Under DDP each rank scores only its own rho n anchors against the rho N clips: divide by the
number of ranks.

    python benchmarks/bench_loss.py --sizes 256,512,1024,2048,4096 --num-clips 2,4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from cvrl_pl.losses.ntxent import ntxent


def _rss_kib(field: str) -> int:
    """VmRSS or VmHWM (peak) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def one_size(n: int, rho: int, dim: int, device: str, repeats: int) -> dict:
    """Time (ms per forward+backward) and peak memory (MiB) of NT-Xent at global batch ``n`` with ``rho`` views."""
    target = "cuda" if device == "gpu" else "cpu"
    views = [torch.randn(n, dim, device=target, requires_grad=True) for _ in range(rho)]

    def step() -> None:
        ntxent(views, 0.1).loss.backward()
        for z in views:
            z.grad = None

    step()  # warm-up (allocator, kernels, thread pool)
    step()
    if target == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = _rss_kib("VmRSS") * 1024
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if target == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - start) / repeats * 1000
    peak = torch.cuda.max_memory_allocated() if target == "cuda" else _rss_kib("VmHWM") * 1024
    return {"clips": rho, "batch": n, "ms": round(ms, 3), "peak_mib": round((peak - before) / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024,2048,4096", help="global batch sizes (videos)")
    parser.add_argument("--num-clips", default="2", help="clips per video, comma-separated (rho)")
    parser.add_argument("--dim", type=int, default=128, help="projection dimension")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size in this process
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, int(args.num_clips), args.dim, args.device, args.repeats)))
        return

    rows = []
    clips = [int(r) for r in args.num_clips.split(",")]
    for rho in clips:
        for n in map(int, args.sizes.split(",")):
            # A fresh process per size: the CPU peak (VmHWM) cannot be reset within a process.
            cmd = [sys.executable, __file__, "--one", str(n), "--num-clips", str(rho), "--dim", str(args.dim)]
            cmd += ["--repeats", str(args.repeats), "--device", args.device]
            row = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            row["logits_mib"] = round(4 * (rho * n) ** 2 / 2**20, 1)  # one float32 rho N x rho N matrix
            rows.append(row)
    for small, big in zip(rows, rows[1:], strict=False):
        if small["clips"] == big["clips"]:
            big["ms_vs_previous"] = round(big["ms"] / small["ms"], 2)
            big["batch_vs_previous"] = round(big["batch"] / small["batch"], 2)
    first = {row["batch"]: row for row in rows if row["clips"] == clips[0]}
    for row in rows:
        if row["clips"] != clips[0]:
            row[f"ms_vs_{clips[0]}_clips"] = round(row["ms"] / first[row["batch"]]["ms"], 2)
    figures = {"device": args.device, "dim": args.dim, "sizes": rows}
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
