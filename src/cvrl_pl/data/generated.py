"""Videos generated in memory, for runs and tests that need no files: ``data.source=generated``.

Video i shows one textured rectangle moving at a constant velocity (bouncing off the borders) over a smooth
background; both are fixed by (seed, i). The views are drawn with the real CVRL temporal sampler and a
clip-consistent random resized crop and flip, so the contrastive task is the paper's, at toy scale
(``aug.num_clips`` views per video).
"""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from cvrl_pl.data.batches import view_names
from cvrl_pl.runtime.distributed import per_device_batch
from dali_pipelines.params import random_resized_crop_box
from dali_pipelines.sampling import clip_frame_indices, sample_clip_starts


def _bounce(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect positions into [lo, hi] (an object bouncing off the borders)."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def render_frames(video: int, frames: np.ndarray, size: int, seed: int) -> torch.Tensor:
    """Frames ``frames`` of generated video ``video`` as a float tensor (T, 3, size, size) in [0, 1]."""
    rng = np.random.default_rng([seed, video])
    yy, xx = np.mgrid[0:size, 0:size] / size
    phase = rng.uniform(0, 2 * np.pi, size=(3, 2))
    background = 0.5 + 0.15 * np.sin(2 * np.pi * (xx[None] * phase[:, :1, None] / 3 + yy[None]) + phase[:, 1:, None])
    obj = int(rng.integers(size // 6, size // 3 + 1))
    texture = rng.uniform(0, 1, size=(3, 1, 1)) * (0.6 + 0.4 * rng.uniform(0, 1, size=(1, obj, obj)))
    start = rng.uniform(0, size - obj, size=2)
    velocity = rng.uniform(-2.0, 2.0, size=2)
    positions = _bounce(start[None] + velocity[None] * frames[:, None], 0, size - obj).astype(int)
    out = np.repeat(background[None], len(frames), axis=0)
    for k, (y, x) in enumerate(positions):
        out[k, :, y : y + obj, x : x + obj] = texture
    return torch.from_numpy(out.astype(np.float32))


def random_resized_crop_flip(
    clip: torch.Tensor,
    out_size: int,
    rng: np.random.Generator,
    *,
    area: tuple[float, float],
    aspect: tuple[float, float],
    flip_prob: float,
) -> torch.Tensor:
    """One crop box and one flip decision for all frames of ``clip`` (T, C, H, W); returns (C, T, S, S)."""
    _, _, h, w = clip.shape
    # The same box law as the DALI pipelines (params.random_resized_crop_box), rounded to whole pixels.
    x0, y0, bw, bh = random_resized_crop_box(rng, (w, h), area, aspect)
    x, y = int(x0), int(y0)
    cw, ch = max(1, min(w - x, round(bw))), max(1, min(h - y, round(bh)))
    crop = F.interpolate(
        clip[:, :, y : y + ch, x : x + cw], size=(out_size, out_size), mode="bilinear", align_corners=False
    )
    if rng.random() < flip_prob:
        crop = crop.flip(-1)
    return crop.clamp_(0, 1).permute(1, 0, 2, 3).contiguous()


class GeneratedVideoPairs(Dataset):
    """Item i: the rho CVRL views {"view1", ..., "view<rho>"} of generated video i, each (3, T, S, S) in [0, 1]."""

    def __init__(self, cfg: DictConfig):
        self.data, self.aug = cfg.data, cfg.aug

    def __len__(self) -> int:
        return self.data.generated.num_videos

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # Torch seeds each loader worker differently (and reproducibly under seed_everything(workers=True)).
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        gen, t = self.data.generated, self.aug.temporal
        length = gen.num_video_frames
        rho = self.aug.num_clips
        starts = sample_clip_starts(length, self.data.num_frames, self.data.stride, rng, **t, num_clips=rho)
        views = {"video_id": torch.tensor(index)}
        for name, s in zip(view_names(rho), starts, strict=True):
            frames = render_frames(
                index, clip_frame_indices(s, self.data.num_frames, self.data.stride, length), gen.size, gen.seed
            )
            views[name] = random_resized_crop_flip(
                frames,
                self.data.crop_size,
                rng,
                area=tuple(self.aug.crop_area),
                aspect=tuple(self.aug.crop_aspect),
                flip_prob=self.aug.flip_prob,
            )
        return views


class GeneratedDataModule(pl.LightningDataModule):
    """Serves generated view pairs; the global batch is split evenly over the trainer's ranks."""

    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.cfg = cfg

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        workers = self.cfg.data.num_workers
        # drop_last: every rank must hold the same number of clips for the loss's all_gather.
        return DataLoader(
            GeneratedVideoPairs(self.cfg),
            batch_size=per_device_batch(self.cfg.data.batch_size, world),
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
