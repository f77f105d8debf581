"""Lightning's view of a DALI pipeline: where it runs (ranks, device), which decoder it uses, and ``DaliLoader``,
the iterable of batches that resumes mid-epoch exactly where a checkpoint left off."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from nvidia.dali.backend import GetCUDADeviceCount
from nvidia.dali.pipeline import Pipeline
from nvidia.dali.plugin.pytorch import DALIGenericIterator

from cvrl_pl.data.index import VideoIndex
from cvrl_pl.errors import ConfigError
from cvrl_pl.runtime.lightning_private import batches_done_in_epoch
from cvrl_pl.runtime.signals import preemption_signal_ignored
from dali_pipelines.sources import DALI_CPU_CODECS, ClipSource, VideoTable


def video_table(index: VideoIndex) -> VideoTable:
    """The columns of an index that the pipeline's sources read."""
    v = index.videos
    return VideoTable(
        paths=tuple(index.abspath(i) for i in range(len(v))),
        num_frames=np.array([r.num_frames for r in v], np.int64),
        widths=np.array([r.width for r in v], np.int64),
        heights=np.array([r.height for r in v], np.int64),
        labels=np.array([r.label for r in v], np.int64),
    )


def choose_decoder(requested: str, on_gpu: bool, codecs: set[str]) -> str:
    """``auto``: DALI on a GPU (NVDEC decodes H.264/HEVC/VP9) and on CPU when it can; otherwise PyAV."""
    cpu_unsupported = sorted(codecs - DALI_CPU_CODECS)
    if requested == "auto":
        return "dali" if on_gpu or not cpu_unsupported else "pyav"
    if requested == "dali" and not on_gpu and cpu_unsupported:
        raise ConfigError(
            f"data.decoder=dali: DALI's CPU decoder cannot decode {', '.join(cpu_unsupported)}; use data.decoder=auto "
            "or pyav, or transcode with: python -m cvrl_pl.data.prepare SRC DST --codec vp9"
        )
    return requested


def placement(trainer: pl.Trainer | None) -> tuple[int, int, int | None]:
    """(world size, GLOBAL rank for sharding, LOCAL rank as the DALI device id or None on CPU)."""
    if trainer is None:
        return 1, 0, None
    on_gpu = trainer.strategy.root_device.type == "cuda"
    if on_gpu and GetCUDADeviceCount() == 0:
        raise RuntimeError("training on a GPU, but DALI sees no CUDA device")
    return trainer.world_size, trainer.global_rank, trainer.local_rank if on_gpu else None


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
    """

    def __init__(
        self,
        source: ClipSource,
        *,
        build: Callable[[ClipSource], Pipeline],
        names: tuple[str, ...],
        progress: Callable[[], tuple[int, int]],
        transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    ):
        self.source, self._build, self.names, self._progress = source, build, names, progress
        self.transform = transform  # the pipeline's outputs -> the batch the module takes (data/batches.py)
        self.steps = len(source) // source.batch_size
        self._iterator: DALIGenericIterator | None = None

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self._iterator is None:
            epoch, done = self._progress()
            self.source.first_epoch, self.source.skip = epoch, done * self.source.batch_size
            pipeline = self._build(self.source)
            with preemption_signal_ignored():  # the Python workers start here
                pipeline.build()
            self._iterator = DALIGenericIterator(pipeline, list(self.names), auto_reset=True)
        for batch in self._iterator:
            yield self.transform(batch[0])

    # Lightning's protocol of resumable loaders. Lightning restores its loops' progress before the first batch,
    # and the pipeline is built from that progress, so there is nothing to load; the state saved is informative.
    def state_dict(self) -> dict[str, int]:
        epoch, done = self._progress()
        return {"epoch": epoch, "batches": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        pass
