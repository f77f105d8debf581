"""How this rank decodes a split, decided and checked before any pipeline starts: which decoder reads each video on
the rank's device (data.decoder, by dali_pipelines.decoders' routing table), its log line, the check that each DALI
decoder it uses works on the device, whether /dev/shm holds what the workers pass through it, and DALI's threads."""

from __future__ import annotations

import os

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.data.decoder_check import check_decoders
from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.index.formats import format_name, stream_formats
from cvrl_pl.data.layouts.files import some_names
from cvrl_pl.data.shared_memory import check_shared_memory
from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import PYAV, counts_text, decoder_counts, decoders_where, routes
from dali_pipelines.graph import PREFETCH

# Threads that keep a GPU's NVDEC engines busy: H100/H200 have 7, and one pipeline with few threads used about 14%
# of a GH200's 7 engines (DALI issue 6387). One thread per engine, and one to spare.
GPU_DECODE_THREADS = 8
CPU_THREADS = 2  # on a CPU, what every benchmark in docs/benchmarks.md ran with (the count barely mattered there)


def decoding(
    cfg: DictConfig, index: VideoIndex, trainer: pl.Trainer | None, device_id: int | None, *, frames: int, batch: int
) -> tuple[np.ndarray, int]:
    """How this rank decodes a split, checked before any pipeline starts: per video, the decoder that reads it
    (``data.decoder``; logged, and each DALI decoder it uses must decode a built-in clip on the device), and DALI's
    threads; /dev/shm must hold what the workers pass through it. ``frames`` per sample, ``batch`` per rank."""
    capability = device_capability(device_id)
    codes = choose_decoders(cfg.data.decoder, index, capability)
    log_decoders(index, codes, capability)
    check_decoders(codes, device_id)  # before the bad-video guard could blame the data for a decoder that cannot work
    ranks = ranks_per_node(trainer)
    check_shared_memory(
        index,
        codes,
        frames_per_sample=frames,
        batch_size=batch,
        py_workers=cfg.data.num_workers,
        prefetch=PREFETCH,
        ranks_per_node=ranks,
    )
    return codes, dali_threads(cfg.data.dali_threads, device_id, ranks)


def video_routes(index: VideoIndex, capability: tuple[int, int] | None) -> np.ndarray:
    """Per video, the code of the decoder the routing table gives it on a GPU of compute ``capability`` (None: on a
    CPU), routed once per stream format."""
    formats, which = stream_formats(index.videos)
    return routes(formats, capability)[which]


def choose_decoders(requested: str, index: VideoIndex, capability: tuple[int, int] | None) -> np.ndarray:
    """Per video, the code of the decoder that reads it (dali_pipelines.decoders) on a GPU of compute
    ``capability`` (None: on a CPU). ``auto``: each video by the routing table, NVDEC or DALI's CPU decoder where
    they can, PyAV for the rest; ``dali``: the same, but a video only PyAV reads is an error; ``pyav``: PyAV for all."""
    if requested == "pyav":
        return np.full(len(index.videos), PYAV, np.int8)
    codes = video_routes(index, capability)
    if requested == "dali" and (codes == PYAV).any():
        left = np.flatnonzero(codes == PYAV)
        named = [f"{v.path} ({format_name(v)})" for v in map(index.videos.__getitem__, left[:4].tolist())]
        shown = some_names(named, 3, total=len(left))
        raise ConfigError(
            f"data.decoder=dali: {len(left)} of {len(codes)} videos of {index.root} are not decodable by DALI "
            f"{decoders_where(capability)}: {shown}. Use data.decoder=auto (PyAV decodes those), or transcode with: "
            "python -m cvrl_pl.data.prepare SRC DST --codec vp9"
        )
    return codes


def device_capability(device_id: int | None) -> tuple[int, int] | None:
    """The compute capability of the CUDA device DALI decodes on; None on a CPU."""
    return None if device_id is None else tuple(torch.cuda.get_device_capability(device_id))


_LOGGED: set[str] = set()  # the decoder lines already logged: the probes rebuild their loaders at every evaluation


def log_decoders(index: VideoIndex, codes: np.ndarray, capability: tuple[int, int] | None) -> None:
    """One log line, once per split and device: how many videos of the split each decoder reads (the index report's
    counts)."""
    line = f"decoders for {index.root} {decoders_where(capability)}: {counts_text(decoder_counts(codes))}"
    if line not in _LOGGED:
        _LOGGED.add(line)
        rank_zero_info(line)


def dali_threads(setting: str, device_id: int | None, ranks_per_node: int) -> int:
    """``data.dali_threads``: a number as given; ``auto``: CPU_THREADS on a CPU, and on a GPU GPU_DECODE_THREADS
    within the CPU cores this rank has (at least 2). The cores are the process's CPU affinity, shared by the node's
    ranks unless Slurm gave each task its own (SLURM_CPUS_PER_TASK)."""
    if setting != "auto":
        return int(setting)
    if device_id is None:
        return CPU_THREADS
    cores = len(os.sched_getaffinity(0))
    per_rank = cores if "SLURM_CPUS_PER_TASK" in os.environ else cores // max(ranks_per_node, 1)
    return max(2, min(GPU_DECODE_THREADS, per_rank))


def ranks_per_node(trainer: pl.Trainer | None) -> int:
    """How many ranks share this node (its CPU cores and /dev/shm)."""
    return trainer.num_devices if trainer is not None else 1
