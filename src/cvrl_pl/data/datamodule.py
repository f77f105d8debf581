"""Lightning DataModules around the DALI pipelines: index -> source -> pipeline -> batches of torch tensors.

Sharding uses the GLOBAL rank (each rank reads a disjoint part of every epoch) and the device the LOCAL rank;
all ranks get the same number of full batches (FILL pads with repeats, DROP drops the remainder), so a DDP step
never meets an empty batch. The trainer must run with ``use_distributed_sampler=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from nvidia.dali.pipeline import Pipeline
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.data.bad_videos import BAD_VIDEOS_FILE, BadVideoGuard
from cvrl_pl.data.batches import eval_batch, pretrain_batch
from cvrl_pl.data.decoding import decoding
from cvrl_pl.data.index import VideoIndex, load_or_build_index
from cvrl_pl.data.index.columns import read_rows
from cvrl_pl.data.index.records import CHUNK
from cvrl_pl.data.layouts.files import base_folder
from cvrl_pl.data.loader import DaliLoader, fit_progress, placement, video_table
from cvrl_pl.data.multilabel import action_targets
from cvrl_pl.errors import DatasetKeyError
from cvrl_pl.runtime.distributed import per_device_batch
from dali_pipelines import remote, storage
from dali_pipelines.evaluate import OUTPUTS as EVAL_OUTPUTS
from dali_pipelines.evaluate import eval_pipeline
from dali_pipelines.params import ViewAugConfig, per_clip
from dali_pipelines.plan import EpochPlan
from dali_pipelines.pretrain import OUTPUTS as PRETRAIN_OUTPUTS
from dali_pipelines.pretrain import pretrain_pipeline
from dali_pipelines.sources import PretrainSource, TestViewSource, TrainClipSource


def split_index(
    split: Mapping[str, Any], *, section: str, progress: bool = True, reindex: str | None = None
) -> VideoIndex:
    """The index of the dataset split in config section ``section`` (``data``, ``val`` or ``probe.train``), from its
    ``root``, ``layout``, ``csv``, ``annotations``, ``split``, ``subset``, ``index``, ``verify`` and ``reindex``
    (``reindex`` given here overrides the section's: load_or_build_index); its ``storage_options`` serve every read
    under the root from here on, in this process and the workers it starts. What happened is logged, timed."""
    options = split.get("storage_options") or {}
    options = OmegaConf.to_container(options) if isinstance(options, DictConfig) else dict(options)
    remote.configure(base_folder(storage.absolute(str(split["root"]))), options)
    try:
        return load_or_build_index(
            split["root"],
            index_path=split["index"],
            csv=split["csv"],
            annotations=split["annotations"],
            split=split["split"],
            subset=split["subset"],
            layout=split["layout"],
            verify=split["verify"],
            progress=progress,
            reindex=reindex or split["reindex"],
            note=rank_zero_info,
        )
    except DatasetKeyError as exc:
        raise exc.named(f"{section}.{exc.key}") from None


def view_configs(cfg: DictConfig) -> tuple[ViewAugConfig, ...]:
    """The ``aug.num_clips`` views' augmentation from ``cfg.aug``: the same except the per-clip blur and solarize
    probabilities (params.per_clip: the paper's two alternate over the clips)."""
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
    blur, solarize = per_clip(a.blur_prob, a.num_clips), per_clip(a.solarize_prob, a.num_clips)
    return tuple(ViewAugConfig(**common, blur_prob=b, solarize_prob=s) for b, s in zip(blur, solarize, strict=True))


def bad_video_guard(cfg: DictConfig, trainer: pl.Trainer | None, device_id: int | None) -> BadVideoGuard:
    """The run's guard against videos that fail at run time; it records them in the run folder when there is a
    trainer (a run), in the log only otherwise (the preview tool)."""
    run = Path(cfg.trainer.output_dir) / cfg.trainer.run_name
    return BadVideoGuard(
        run / BAD_VIDEOS_FILE if trainer is not None else None,
        max_batch_share=cfg.data.max_bad_batch_share,
        max_epoch_share=cfg.data.max_bad_epoch_share,
        reader_fault_videos=cfg.data.reader_fault_videos,
        device_id=device_id,
        rank=trainer.global_rank if trainer is not None else 0,
        step=(lambda: trainer.global_step) if trainer is not None else (lambda: -1),
    )


@dataclass(frozen=True)
class EvalClips:
    """What an evaluation loader cuts from each video: clips of ``num_frames`` frames every ``stride`` stored frames
    (or, with ``fps``, 1/fps seconds apart), square crops of ``crop_size``; test views: ``num_temporal`` x
    ``num_spatial`` per video, after resizing the short side to ``short_side`` (default: the crop size); training
    clips: ``train_clips`` per video and epoch."""

    num_frames: int
    stride: int
    crop_size: int
    num_temporal: int = 1
    num_spatial: int = 1
    short_side: int | None = None
    fps: float | None = None
    train_clips: int = 1
    segments: int = 1  # clips a sample holds, one from each equal part of the video, frames concatenated


def eval_loader(
    cfg: DictConfig,
    index: VideoIndex,
    trainer: pl.Trainer | None,
    *,
    mode: str,
    batch_size: int,
    clips: EvalClips,
    start: int = 0,
) -> DaliLoader:
    """Batches {"views", "label", "video_id", "clip_idx"} of a labelled split through the evaluation graphs;
    ``batch_size`` is GLOBAL (split over the ranks). A multi-label split's label is multi-hot (B, classes): a
    training clip's actions by ``eval.clip_targets``, a test view's whole video's.

    ``mode`` ``test`` (a TestViewSource): every video's test views, each (video, clip) on exactly one rank except
    the padding repeats; from batch ``start`` on (a resumed feature extraction).
    ``train`` (a TrainClipSource): one random-crop-and-flip clip per video, shuffled each epoch.
    """
    crop_size = clips.crop_size
    world, rank, device_id = placement(trainer)
    d = cfg.data
    # The protocols train on random resized crops and flips, and colour jitter where eval.jitter sets it
    # (docs/recipe.md).
    e = cfg.eval
    view = ViewAugConfig(
        crop_size=crop_size,
        crop_area=tuple(e.crop_area),
        crop_aspect=tuple(e.crop_aspect),
        flip_prob=e.flip_prob,
        jitter_prob=1.0 if e.jitter else 0.0,
        jitter=tuple(e.jitter) if e.jitter else None,
        grayscale_prob=0.0,
    )
    batch = per_device_batch(batch_size, world)
    decoders, threads = decoding(cfg, index, trainer, device_id, frames=clips.num_frames, batch=batch)
    options = {
        "num_frames": clips.num_frames,
        "stride": clips.stride,
        "batch_size": batch,
        "shard_id": rank,
        "num_shards": world,
        "seed": cfg.trainer.seed,
        "drop_last": False,
        "decoders": decoders,
        "targets": action_targets(index, whole_video=cfg.eval.clip_targets == "video"),
        "fps": clips.fps,
        "segments": clips.segments,
    }
    if mode == "train":
        source: TrainClipSource | TestViewSource = TrainClipSource(
            video_table(index), view, clips_per_video=clips.train_clips, **options
        )
    elif mode == "test":
        source = TestViewSource(
            video_table(index), num_temporal=clips.num_temporal, num_spatial=clips.num_spatial, **options
        )
    else:
        raise ValueError(f"mode must be train or test, got {mode!r}")

    def build(source: TrainClipSource | TestViewSource) -> Pipeline:
        return eval_pipeline(
            source,
            device_id,
            crop_size=crop_size,
            short_side=clips.short_side or crop_size,
            num_threads=threads,
            py_workers=d.num_workers,
            seed=cfg.trainer.seed,
        )

    # The probes' and the test loaders run outside the fit loop: always their first and only epoch.
    progress = fit_progress(trainer) if mode == "train" else lambda: (0, start)
    guard = bad_video_guard(cfg, trainer, device_id)
    return DaliLoader(source, build=build, names=EVAL_OUTPUTS, progress=progress, transform=eval_batch, guard=guard)


def check_epoch_coverage(source: PretrainSource, world: int) -> None:
    """Fail loudly unless the shards' plans read every indexed video (FILL) or every video once (DROP).

    DALI's own experimental CPU reader silently drops files it cannot decode; our sources enumerate the index.
    """
    n = len(source.table)
    seen = np.zeros(n, bool)  # one plan at a time: a byte a video, not every rank's plan at once
    total = 0
    for r in range(world):
        options = {"epoch": source.first_epoch, "seed": source.seed, "shuffle": source.shuffle}
        plan = EpochPlan(n, world, r, source.batch_size, drop_last=source.drop_last, **options)
        for start in range(0, len(plan), CHUNK):  # in chunks: the plan's temporaries stay small at 70M videos
            seen[plan.at(np.arange(start, min(len(plan), start + CHUNK)))] = True
        total += len(plan)
    read = int(seen.sum())
    expected = total if source.drop_last else n
    if read != expected:
        raise RuntimeError(f"an epoch reads {read} distinct videos of the {n} indexed (expected {expected})")


class CVRLDataModule(pl.LightningDataModule):
    """Pretraining batches {"view1", ..., "view<rho>", "starts", "video_id"} (rho = aug.num_clips), views
    (B, 3, T, H, W) float in [0, 1] with channels-last strides (data/batches.py)."""

    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.cfg = cfg
        self.index: VideoIndex | None = None

    def _index(self, progress: bool, reindex: str | None = None) -> VideoIndex:
        return split_index(self.cfg.data, section="data", progress=progress, reindex=reindex)

    def prepare_data(self) -> None:
        # Runs once per node before setup(): probes new files and writes the index that every rank then reuses.
        index = self._index(progress=True)
        clip = (self.cfg.data.num_frames - 1) * self.cfg.data.stride + 1
        frames = index.videos.columns["num_frames"]
        short = sum(int((read_rows(frames, s, s + CHUNK) < clip).sum()) for s in range(0, len(frames), CHUNK))
        note = f"\n{short} videos are shorter than one clip ({clip} frames) and will be looped" if short else ""
        rank_zero_info(index.report() + note)

    def setup(self, stage: str) -> None:
        # prepare_data has just checked the index (data.reindex): a rank opens the saved one, memory-mapped, without
        # listing a dataset of millions of files again.
        self.index = self._index(progress=False, reindex="never")

    def train_dataloader(self) -> DaliLoader:
        d, trainer = self.cfg.data, self.trainer
        world, rank, device_id = placement(trainer)
        batch = per_device_batch(d.batch_size, world)
        frames = d.num_frames * self.cfg.aug.num_clips
        decoders, threads = decoding(self.cfg, self.index, trainer, device_id, frames=frames, batch=batch)
        source = PretrainSource(
            video_table(self.index),
            view_configs(self.cfg),
            dict(self.cfg.aug.temporal),
            num_frames=d.num_frames,
            stride=d.stride,
            batch_size=batch,
            shard_id=rank,  # GLOBAL rank: sharding by local rank would read the same videos on every node
            num_shards=world,
            seed=self.cfg.trainer.seed,
            shuffle=d.shuffle,
            drop_last=d.last_batch == "drop",
            decoders=decoders,
        )

        check_epoch_coverage(source, world)

        def build(source: PretrainSource) -> Pipeline:
            return pretrain_pipeline(
                source, device_id, num_threads=threads, py_workers=d.num_workers, seed=self.cfg.trainer.seed
            )

        return DaliLoader(
            source,
            build=build,
            names=PRETRAIN_OUTPUTS,
            progress=fit_progress(trainer),
            transform=partial(pretrain_batch, num_views=self.cfg.aug.num_clips),
            guard=bad_video_guard(self.cfg, trainer, device_id),
        )
