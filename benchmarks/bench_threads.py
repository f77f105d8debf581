"""Training steps of processes side by side, at each count of torch threads a process: what the test suite's
workers (two on a 2-core machine, tests/conftest.py) do to each other; prints one JSON line.

Each process trains ``--steps`` steps of an R3D-18 at base width 16 on 16 clips of 8 x 48 x 48 (the quickstart's
shapes) after one warm-up step; ``--processes`` of them start together, with ``OMP_NUM_THREADS`` set to each count
of ``--threads``, and then one alone at each count. The ratios are each setting's time over the time with 1 thread.

    python benchmarks/bench_threads.py --processes 2 --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from cvrl_pl.models import build_encoder


def train_steps(steps: int) -> float:
    """Seconds of ``steps`` optimiser steps (after one warm-up step) in this process."""
    torch.manual_seed(0)
    model = build_encoder("r3d18", base_channels=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    clips = torch.rand(16, 3, 8, 48, 48)
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        opt.zero_grad()
        model(clips).sum().backward()
        opt.step()
    return time.perf_counter() - start


def side_by_side(processes: int, threads: int, steps: int) -> list[float]:
    """Each process's seconds, ``processes`` of them started together with ``threads`` torch threads each."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--child", "--steps", str(steps)]
    running = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return [float(p.communicate()[0].strip()) for p in running]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="processes side by side (the workers)")
    parser.add_argument("--threads", default="1,2", help="torch threads a process, comma-separated")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps a process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(train_steps(args.steps))
        return
    counts = [int(t) for t in args.threads.split(",")]
    together = {n: max(side_by_side(args.processes, n, args.steps)) for n in counts}
    alone = {n: side_by_side(1, n, args.steps)[0] for n in counts}
    result = {
        "processes": args.processes,
        "cpus": os.cpu_count(),
        "steps": args.steps,
        "side_by_side_s": together,
        "alone_s": alone,
        "side_by_side_over_1_thread": {n: together[n] / together[1] for n in counts} if 1 in counts else None,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
