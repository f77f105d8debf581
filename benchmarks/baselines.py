"""The loaders bench_data.py measures the pipeline against: CVRL's two clips per video decoded by PyAV or decord in
a torch Dataset, then the pipeline's augmentation in plain torch ops, batched by a DataLoader.

decord is optional (requirements-decord.txt: ``decord2``, which bundles its own FFmpeg); torchcodec is not measured,
because its wheels need a system FFmpeg (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import numpy as np
import torch

from cvrl_pl.data.generated import random_resized_crop_flip
from dali_pipelines.params import ViewAugConfig, blur_window, colour_maps
from dali_pipelines.pyav_decode import decode_pyav
from dali_pipelines.sampling import clip_frame_indices, sample_clip_starts
from dali_pipelines.table import VideoTable

DECORD_MISSING = "not installed: pip install -r requirements-decord.txt"


def decord_installed() -> bool:
    return importlib.util.find_spec("decord") is not None


def decode_decord(path: str, indices: np.ndarray) -> np.ndarray:
    """Frames ``indices`` of ``path`` as uint8 (N, H, W, 3), read as decord's users read them: a ``VideoReader`` per
    video (default threads) and one ``get_batch``, which seeks to the keyframe before each run of frames and decodes
    a repeated frame once."""
    import decord  # optional: only this baseline needs it

    return decord.VideoReader(path).get_batch([int(i) for i in indices]).asnumpy()


DECODERS: dict[str, Callable[[str, np.ndarray], np.ndarray]] = {"pyav": decode_pyav, "decord": decode_decord}


def pair_frames(length: int, num_frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """The frame indices of CVRL's two clips of a ``length``-frame video (the project's sampler), one after the
    other: what every baseline and cost measurement decodes."""
    starts = sample_clip_starts(length, num_frames, stride, rng)
    return np.concatenate([clip_frame_indices(s, num_frames, stride, length) for s in starts])


def blur_torch(view: torch.Tensor, sigma: float, window: int) -> torch.Tensor:
    """Separable Gaussian blur of a (C, T, H, W) clip, one sigma for every frame."""
    x = torch.arange(window, dtype=torch.float32) - window // 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = (k / k.sum()).repeat(3, 1, 1, 1)  # (3, 1, 1, window): depthwise
    frames = view.permute(1, 0, 2, 3)  # T, C, H, W
    frames = torch.nn.functional.conv2d(frames, k, padding=(0, window // 2), groups=3)
    frames = torch.nn.functional.conv2d(frames, k.transpose(2, 3), padding=(window // 2, 0), groups=3)
    return frames.permute(1, 0, 2, 3)


def augment_torch(clip: torch.Tensor, c: ViewAugConfig, rng: np.random.Generator) -> torch.Tensor:
    """The pipeline's view augmentation of a (T, C, H, W) float clip in [0, 1], in torch ops: (C, T, crop, crop)."""
    view = random_resized_crop_flip(
        clip, c.crop_size, rng, area=c.crop_area, aspect=c.crop_aspect, flip_prob=c.flip_prob
    )
    a, b = colour_maps(rng, rng.random() < c.jitter_prob, c.strength, rng.random() < c.grayscale_prob)
    a, b = torch.from_numpy(a), torch.from_numpy(b)
    mu = view.mean(dim=(1, 2, 3))
    view = (torch.einsum("ij,jthw->ithw", a, view) + (b @ mu)[:, None, None, None]).clamp(0, 1)
    if rng.random() < c.blur_prob:
        view = blur_torch(view, rng.uniform(*c.blur_sigma), blur_window(c.crop_size))
    if rng.random() < c.solarize_prob:
        view = torch.where(view >= 0.5, 1 - view, view)
    return view


class ClipPairs(torch.utils.data.Dataset):
    """Per video, CVRL's two clips (the project's sampler) decoded by ``decoder`` (a key of ``DECODERS``); with
    ``views``, each clip augmented as the pipeline augments it, else the decoded uint8 frames (decode only)."""

    def __init__(
        self,
        table: VideoTable,
        views: tuple[ViewAugConfig, ...] | None,
        *,
        num_frames: int,
        stride: int,
        decoder: str = "pyav",
    ):
        self.table, self.views, self.num_frames, self.stride = table, views, num_frames, stride
        self.decode = DECODERS[decoder]

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int):
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        wanted = pair_frames(int(self.table.num_frames[i]), self.num_frames, self.stride, rng)
        frames = torch.from_numpy(self.decode(self.table.paths[i], wanted))
        if self.views is None:
            return frames
        clips = (frames.permute(0, 3, 1, 2).float() / 255).split(self.num_frames)
        return tuple(augment_torch(clip, c, rng) for clip, c in zip(clips, self.views, strict=True))


def endless_batches(dataset: torch.utils.data.Dataset, *, batch: int, workers: int) -> Iterator:
    """Shuffled batches of ``dataset`` from a DataLoader with ``workers`` persistent workers, epoch after epoch."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers, persistent_workers=workers > 0
    )
    while True:
        yield from loader
