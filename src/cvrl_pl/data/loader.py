"""Lightning's view of a DALI pipeline: where it runs (ranks, device), which decoder reads each video, and
``DaliLoader``, the iterable of batches that resumes mid-epoch exactly where a checkpoint left off."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from nvidia.dali.backend import GetCUDADeviceCount
from nvidia.dali.pipeline import Pipeline
from nvidia.dali.plugin.pytorch import DALIGenericIterator
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.data.bad_videos import BadVideoGuard, is_out_of_memory
from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.index.columns import Coded
from cvrl_pl.data.index.records import counts_text, decoders_where, format_name
from cvrl_pl.data.layouts import LAYOUTS
from cvrl_pl.data.layouts.files import some_names
from cvrl_pl.errors import ConfigError
from cvrl_pl.runtime.lightning_private import batches_done_in_epoch
from cvrl_pl.runtime.signals import preemption_signal_ignored
from dali_pipelines.decoders import PYAV, decoder_counts
from dali_pipelines.sources import ClipSource, VideoTable
from dali_pipelines.targets import ActionTargets


def video_table(index: VideoIndex) -> VideoTable:
    """The columns of an index that the pipeline's sources read: memory-mapped, so a worker maps them too."""
    v = index.videos
    return VideoTable(
        paths=v.paths.absolute(index.root),
        num_frames=v.columns["num_frames"],
        widths=v.columns["width"],
        heights=v.columns["height"],
        labels=v.columns["label"],
        keyframes=v.columns["keyframes"],
        keyframe_pts=v.columns["keyframe_pts"],
        sizes=v.columns["size"],
        mtimes=v.columns["mtime_ns"],
        codecs=Coded(v.columns["codec"], v.vocab["codec"]),
        profiles=Coded(v.columns["profile"], v.vocab["profile"]),
    )


def is_multilabel(index: VideoIndex) -> bool:
    """Whether the index's videos have multi-hot targets from their actions (charades) instead of a class label."""
    return LAYOUTS[index.layout].actions is not None


def action_targets(index: VideoIndex, *, whole_video: bool) -> ActionTargets | None:
    """What turns a multi-label split's samples into multi-hot targets: every indexed video's actions, read from
    the annotations the index was built from, and its frame rate; None for a single-label split."""
    if not is_multilabel(index):
        return None
    actions = LAYOUTS[index.layout].actions(index.lists(), index.videos.paths)
    return ActionTargets(actions, index.videos.column("fps"), len(index.classes), whole_video=whole_video)


def choose_decoders(requested: str, index: VideoIndex, capability: tuple[int, int] | None) -> np.ndarray:
    """Per video, the code of the decoder that reads it (dali_pipelines.decoders) on a GPU of compute
    ``capability`` (None: on a CPU). ``auto``: each video by the routing table, NVDEC or DALI's CPU decoder where
    they can, PyAV for the rest; ``dali``: the same, but a video only PyAV reads is an error; ``pyav``: PyAV for all."""
    if requested == "pyav":
        return np.full(len(index.videos), PYAV, np.int8)
    codes = index.decoders(capability)
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


def placement(trainer: pl.Trainer | None) -> tuple[int, int, int | None]:
    """(world size, GLOBAL rank for sharding, the CUDA device the rank trains on as DALI's device id, None on CPU).

    The device is the rank's root device, not its local rank: with ``trainer.devices=[4,5,6,7]`` local rank 0 trains
    on cuda:4, and DALI must decode there too, not on GPU 0 with a copy of every batch across."""
    if trainer is None:
        return 1, 0, None
    device = trainer.strategy.root_device
    if device.type == "cuda" and GetCUDADeviceCount() == 0:
        raise RuntimeError("training on a GPU, but DALI sees no CUDA device")
    return trainer.world_size, trainer.global_rank, device.index if device.type == "cuda" else None


def batches_ahead(pipeline: Pipeline) -> int:
    """How many batches past the one asked for a pipeline may already be making: its prefetch queue, plus one batch
    per Python worker of its parallel sources. A source worker's failure in any of them surfaces at this batch."""
    depth = pipeline.prefetch_queue_depth
    depth = max(depth.values()) if isinstance(depth, dict) else depth  # separated CPU / GPU queues
    return depth + pipeline.py_num_workers


# Threads that keep a GPU's NVDEC engines busy: H100/H200 have 7, and one pipeline with few threads used about 14%
# of a GH200's 7 engines (DALI issue 6387). One thread per engine, and one to spare.
GPU_DECODE_THREADS = 8
CPU_THREADS = 2  # on a CPU, what every benchmark in docs/benchmarks.md ran with (the count barely mattered there)


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


def fit_progress(trainer: pl.Trainer | None) -> Callable[[], tuple[int, int]]:
    """(epoch, batches trained in it) of the trainer's fit loop; (0, 0) without a trainer."""
    if trainer is None:
        return lambda: (0, 0)
    return lambda: (trainer.current_epoch, batches_done_in_epoch(trainer))


class DaliLoader:
    """Lightning's view of a DALI pipeline: an iterable of batch dicts with a length, one pass per epoch.

    The pipeline is built at the first batch, when the trainer has restored any checkpoint, so it starts where the
    trainer stands: a resumed run continues the sequence of shuffles and, resumed mid-epoch from a checkpoint saved
    after batch k, reads that epoch's batches from k on, exactly those an uninterrupted run reads (every sample's
    randomness is a function of its epoch and position).

    With a ``guard``, a video that fails to read or decode costs one sample, not the run: the pipeline error is
    caught, the guard finds and reports the video, and the pipeline is rebuilt at the same batch with the video
    excluded (its place filled by another; see ClipSource.item_at). Videos reported by other ranks or an earlier
    start of the run are excluded from the next epoch on.
    """

    def __init__(
        self,
        source: ClipSource,
        *,
        build: Callable[[ClipSource], Pipeline],
        names: tuple[str, ...],
        progress: Callable[[], tuple[int, int]],
        transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
        guard: BadVideoGuard | None = None,
    ):
        self.source, self._build, self.names, self._progress = source, build, names, progress
        self.transform = transform  # the pipeline's outputs -> the batch the module takes (data/batches.py)
        self.guard = guard
        self.steps = len(source) // source.batch_size
        self._iterator: DALIGenericIterator | None = None  # None: (re)built before the next batch
        self._started = False
        self._epoch = self._batch = 0  # where the next batch is in the plan
        self._lookahead = 0  # batches the current pipeline may make ahead of the one asked for (batches_ahead)

    def __len__(self) -> int:
        return self.steps

    def _start(self) -> None:
        """Build the pipeline to deliver the plan's batches from ``self._batch`` of ``self._epoch`` on. DALI's
        iterator runs the pipeline as it is made, so a failure can surface here as well as at a batch."""
        self.source.first_epoch, self.source.skip = self._epoch, self._batch * self.source.batch_size
        pipeline = self._build(self.source)
        self._lookahead = batches_ahead(pipeline)
        # A pipeline that failed may linger in a reference cycle (its error's traceback holds it). Whichever process
        # collects it shuts it down; in a worker forked from this one, that waits forever for DALI threads that only
        # this process has. So it is collected here, before the workers are forked.
        gc.collect()
        with preemption_signal_ignored():  # the Python workers start here
            pipeline.build()
        self._iterator = DALIGenericIterator(pipeline, list(self.names), auto_reset=True)

    def _refresh_excluded(self) -> bool:
        """Take up the videos the guard knows to fail (other ranks', an earlier start's); whether that changed."""
        if self.guard is None:
            return False
        excluded = self.guard.known_ids(self.source.table)
        changed, self.source.excluded = excluded != self.source.excluded, excluded
        return changed

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if not self._started:
            self._started = True
            self._epoch, self._batch = self._progress()
            self._refresh_excluded()
        else:  # the next epoch: rebuilt if more videos are now known to fail
            self._epoch, self._batch = self._epoch + 1, 0
            if self._refresh_excluded():
                self._iterator = None
        # DALI's iterator moves on to its next epoch at iter(): Lightning stops after len() batches, before the
        # iterator has seen the end of the epoch. Moving on runs the pipeline, so it can fail like a batch.
        move_on = self._iterator is not None
        while True:
            try:
                if self._iterator is None:
                    self._start()
                elif move_on:
                    iter(self._iterator)
                move_on = False
                batch = next(self._iterator)
            except StopIteration:
                return
            except Exception as exc:  # a decoder's or source worker's error; the guard re-raises what no video explains
                if self.guard is None or is_out_of_memory(exc):  # a full GPU is no video's fault
                    raise
                self._iterator = None  # a failed pipeline cannot run again; its workers end with it
                self.source.excluded = self.guard.recover(
                    self.source, self._epoch, self._batch, exc, lookahead=self._lookahead
                )
                continue
            self._batch += 1
            yield self.transform(batch[0])

    # Lightning's protocol of resumable loaders. Lightning restores its loops' progress before the first batch,
    # and the pipeline is built from that progress, so there is nothing to load; the state saved is informative.
    def state_dict(self) -> dict[str, int]:
        epoch, done = self._progress()
        return {"epoch": epoch, "batches": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        pass
