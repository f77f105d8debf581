"""Lightning DataModules around the DALI pipelines: index -> source -> pipeline -> batches of torch tensors.

Sharding uses the GLOBAL rank (each rank reads a disjoint part of every epoch) and the device the LOCAL rank;
all ranks get the same number of full batches (FILL pads with repeats, DROP drops the remainder), so a DDP step
never meets an empty batch. The trainer must run with ``use_distributed_sampler=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from nvidia.dali.backend import GetCUDADeviceCount
from nvidia.dali.pipeline import Pipeline
from nvidia.dali.plugin.pytorch import DALIGenericIterator
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.callbacks.preemption import preemption_signal_ignored
from cvrl_pl.config import ConfigError, per_device_batch
from cvrl_pl.data.index import VideoIndex, load_or_build_index
from cvrl_pl.data.layout import eval_batch, pretrain_batch
from dali_pipelines.evaluate import OUTPUTS as EVAL_OUTPUTS
from dali_pipelines.evaluate import eval_pipeline
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pretrain import OUTPUTS as PRETRAIN_OUTPUTS
from dali_pipelines.pretrain import pretrain_pipeline
from dali_pipelines.sources import DALI_CPU_CODECS, ClipSource, EvalSource, PretrainSource, VideoTable, epoch_plan


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


def view_configs(cfg: DictConfig) -> tuple[ViewAugConfig, ViewAugConfig]:
    """The two views' augmentation from ``cfg.aug``: the same except the asymmetric blur and solarize."""
    a = cfg.aug
    common = {
        "crop_size": cfg.data.crop_size,
        "crop_area": tuple(a.crop_area),
        "crop_aspect": tuple(a.crop_aspect),
        "flip_prob": a.flip_prob,
        "jitter_prob": a.jitter_prob,
        "strength": a.strength,
        "grayscale_prob": a.grayscale_prob,
        "blur_sigma": tuple(a.blur_sigma),
        "consistent": a.consistent,
    }
    return tuple(ViewAugConfig(**common, blur_prob=a.blur_prob[v], solarize_prob=a.solarize_prob[v]) for v in (0, 1))


def placement(trainer: pl.Trainer | None) -> tuple[int, int, int | None]:
    """(world size, GLOBAL rank for sharding, LOCAL rank as the DALI device id or None on CPU)."""
    if trainer is None:
        return 1, 0, None
    on_gpu = trainer.strategy.root_device.type == "cuda"
    if on_gpu and GetCUDADeviceCount() == 0:
        raise RuntimeError("training on a GPU, but DALI sees no CUDA device")
    return trainer.world_size, trainer.global_rank, trainer.local_rank if on_gpu else None


def eval_loader(
    cfg: DictConfig,
    index: VideoIndex,
    trainer: pl.Trainer | None,
    mode: str,
    num_frames: int,
    stride: int,
    crop_size: int,
    num_temporal: int = 1,
    num_spatial: int = 1,
    short_side: int | None = None,
    batch_size: int | None = None,
) -> DaliLoader:
    """Batches {"views", "label", "video_id", "clip_idx"} of a labelled split through the evaluation graphs.

    ``test``: every video's ``num_temporal`` x ``num_spatial`` views, each (video, clip) on exactly one rank
    except the padding repeats. ``train``: one random-crop-and-flip clip per video, shuffled each epoch.
    """
    world, rank, device_id = placement(trainer)
    d = cfg.data
    view = ViewAugConfig(
        crop_size,
        tuple(cfg.aug.crop_area),
        tuple(cfg.aug.crop_aspect),
        cfg.aug.flip_prob,
        jitter_prob=0.0,
        grayscale_prob=0.0,
    )
    on_gpu = device_id is not None
    source = EvalSource(
        video_table(index),
        mode,
        view=view,
        num_temporal=num_temporal,
        num_spatial=num_spatial,
        num_frames=num_frames,
        stride=stride,
        batch_size=per_device_batch(batch_size or cfg.eval.batch_size, world),
        shard_id=rank,
        num_shards=world,
        seed=cfg.trainer.seed,
        drop_last=False,
        decoder=choose_decoder(d.decoder, on_gpu, {r.codec for r in index.videos}),
    )

    def build(source: EvalSource) -> Pipeline:
        return eval_pipeline(
            source, device_id, crop_size, short_side or crop_size, d.dali_threads, d.num_workers, cfg.trainer.seed
        )

    # The probes' and the test loaders run outside the fit loop: always their first and only epoch.
    progress = _fit_progress(trainer) if mode == "train" else lambda: (0, 0)
    return DaliLoader(source, build, EVAL_OUTPUTS, progress, eval_batch)


def _fit_progress(trainer: pl.Trainer | None) -> Callable[[], tuple[int, int]]:
    """(epoch, batches trained in it) of the trainer's fit loop."""
    if trainer is None:
        return lambda: (0, 0)
    return lambda: (trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def check_epoch_coverage(source: PretrainSource, world: int) -> None:
    """Fail loudly unless the shards' plans read every indexed video (FILL) or every video once (DROP).

    DALI's own experimental CPU reader silently drops files it cannot decode; our sources enumerate the index.
    """
    n = len(source.table)
    plans = [
        epoch_plan(n, world, r, source.batch_size, source.first_epoch, source.seed, source.shuffle, source.drop_last)
        for r in range(world)
    ]
    read = np.unique(np.concatenate(plans)).size
    expected = sum(map(len, plans)) if source.drop_last else n
    if read != expected:
        raise RuntimeError(f"an epoch reads {read} distinct videos of the {n} indexed (expected {expected})")


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
        build: Callable[[ClipSource], Pipeline],
        names: tuple[str, ...],
        progress: Callable[[], tuple[int, int]],
        transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    ):
        self.source, self._build, self.names, self._progress = source, build, names, progress
        self.transform = transform  # the pipeline's outputs -> the batch the module takes (data/layout.py)
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


class CVRLDataModule(pl.LightningDataModule):
    """Pretraining batches {"view1", "view2", "starts", "video_id"}, views (B, 3, T, H, W) float in [0, 1] with
    channels-last strides (data/layout.py)."""

    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.cfg = cfg
        self.index: VideoIndex | None = None

    def _index(self, progress: bool) -> VideoIndex:
        d = self.cfg.data
        return load_or_build_index(d.root, d.index, d.csv, d.layout, workers=None, progress=progress)

    def prepare_data(self) -> None:
        # Runs once per node before setup(): probes new files and writes the index that every rank then reuses.
        index = self._index(progress=True)
        clip = (self.cfg.data.num_frames - 1) * self.cfg.data.stride + 1
        short = sum(v.num_frames < clip for v in index.videos)
        note = f"\n{short} videos are shorter than one clip ({clip} frames) and will be looped" if short else ""
        rank_zero_info(index.report() + note)

    def setup(self, stage: str) -> None:
        self.index = self._index(progress=False)

    def train_dataloader(self) -> DaliLoader:
        d, trainer = self.cfg.data, self.trainer
        world, rank, device_id = placement(trainer)
        on_gpu = device_id is not None
        source = PretrainSource(
            video_table(self.index),
            view_configs(self.cfg),
            dict(self.cfg.aug.temporal),
            num_frames=d.num_frames,
            stride=d.stride,
            batch_size=per_device_batch(d.batch_size, world),
            shard_id=rank,  # GLOBAL rank: sharding by local rank would read the same videos on every node
            num_shards=world,
            seed=self.cfg.trainer.seed,
            shuffle=d.shuffle,
            drop_last=d.last_batch == "drop",
            decoder=choose_decoder(d.decoder, on_gpu, {r.codec for r in self.index.videos}),
        )

        check_epoch_coverage(source, world)

        def build(source: PretrainSource) -> Pipeline:
            return pretrain_pipeline(source, device_id, d.dali_threads, d.num_workers, self.cfg.trainer.seed)

        return DaliLoader(source, build, PRETRAIN_OUTPUTS, _fit_progress(trainer), pretrain_batch)
