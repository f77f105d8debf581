"""Distributed tests on the CPU: a few processes in a gloo group on localhost, each running a function."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world_size: int, port: int, results: dict, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        results[rank] = fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_gloo(world_size: int, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned processes, in one gloo process group.

    Returns what each rank returned, by rank. ``fn`` and ``args`` are pickled to the processes (a module-level
    function); the results come back through a multiprocessing manager (tensors included). A rank that raises fails
    the call (``mp.spawn`` raises ``ProcessRaisedException`` with its traceback).
    """
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_rank_main, args=(world_size, free_port(), results, fn, args), nprocs=world_size, join=True)
        return [results[rank] for rank in range(world_size)]
