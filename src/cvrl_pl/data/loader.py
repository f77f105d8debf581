"""Lightning's view of a DALI pipeline: where it runs (ranks, device), the index columns its sources read, and
``DaliLoader``, the iterable of batches that resumes mid-epoch exactly where a checkpoint left off."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytorch_lightning as pl
import torch
from nvidia.dali.backend import GetCUDADeviceCount
from nvidia.dali.pipeline import Pipeline
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from cvrl_pl.data.bad_videos import BadVideoGuard, is_out_of_memory
from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.index.columns import Coded
from cvrl_pl.runtime.lightning_private import batches_done_in_epoch
from cvrl_pl.runtime.signals import preemption_signal_ignored
from dali_pipelines.sources import ClipSource
from dali_pipelines.table import VideoTable


def video_table(index: VideoIndex) -> VideoTable:
    """The columns of an index that the pipeline's sources read: memory-mapped, so a worker maps them too."""
    v = index.videos
    return VideoTable(
        paths=v.references(index.root),
        num_frames=v.columns["num_frames"],
        widths=v.columns["width"],
        heights=v.columns["height"],
        labels=v.columns["label"],
        keyframes=v.columns["keyframes"],
        keyframe_pts=v.columns["keyframe_pts"],
        keyframe_pos=v.columns["keyframe_pos"],
        keyframe_bytes=v.columns["keyframe_bytes"],
        data_ends=v.columns["data_end"],
        sizes=v.columns["size"],
        mtimes=v.columns["mtime_ns"],
        codecs=Coded(v.columns["codec"], v.vocab["codec"]),
        profiles=Coded(v.columns["profile"], v.vocab["profile"]),
        fps=v.columns["fps"],
    )


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
        self.source.resume_at(self._epoch, self._batch * self.source.batch_size)
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
        return self.source.exclude(self.guard.known_ids(self.source.table))

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
                self.source.exclude(
                    self.guard.recover(self.source, self._epoch, self._batch, exc, lookahead=self._lookahead)
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
