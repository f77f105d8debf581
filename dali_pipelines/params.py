"""Random augmentation parameters for one view, drawn in NumPy and applied by the DALI graph (augment.py).

Every parameter is returned PER FRAME (leading axis T). For the paper's temporally consistent augmentation each
frame repeats one draw; for the "inconsistent" ablation every frame draws its own. The graph therefore has one
code path for both, and consistency is a property of these small functions, tested directly.

Colour jitter (brightness, contrast, saturation, hue in a random order, then grayscale) is composed into one
affine colour map per frame, y = A x + B mu, where mu is the clip's per-channel mean (contrast pivots on the image
mean, as in the official code's adjust_contrast). Hue is a rotation of the chroma plane in YIQ space, the linear
form that DALI's own ``hsv`` operator uses. Clipping to [0, 1] happens once, after the whole map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114])
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


@dataclass(frozen=True)
class ViewAugConfig:
    """The spatial augmentation of one view (docs/recipe.md); probabilities are per view."""

    crop_size: int
    crop_area: tuple[float, float] = (0.3, 1.0)
    crop_aspect: tuple[float, float] = (0.5, 2.0)
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    strength: float = 1.0
    # The colour jitter's maximal [brightness, contrast, saturation, hue] changes (torchvision's ColorJitter
    # arguments); None: SimCLR's, from the strength s: 0.8 s, 0.8 s, 0.8 s, 0.2 s.
    jitter: tuple[float, float, float, float] | None = None
    grayscale_prob: float = 0.2
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = 0.0
    consistent: bool = True


@dataclass
class ViewParams:
    """Per-frame parameters of one view: warp (T, 2, 3), colour A and B (T, 3, 3), blur sigma and window, and
    solarize (T,)."""

    warp: np.ndarray
    colour_a: np.ndarray
    colour_b: np.ndarray
    blur_sigma: np.ndarray  # 0 where a frame is not blurred
    blur_window: np.ndarray  # int32 kernel diameter; 1 (the identity) where a frame is not blurred
    solarize: np.ndarray  # 1.0 where a frame is solarized, else 0.0


PARAM_NAMES = ("warp", "colour_a", "colour_b", "blur_sigma", "blur_window", "solarize")


def per_clip(values: Sequence[float], num_clips: int) -> tuple[float, ...]:
    """One value per clip: ``values`` gives one per clip, or the paper's two (view 1, view 2), which alternate
    (clips 1, 3, ... take view 1's, clips 2, 4, ... view 2's), so a video's clips stay an even mix of both kinds."""
    if len(values) == num_clips:
        return tuple(values)
    if len(values) == 2:
        return tuple(values[k % 2] for k in range(num_clips))
    raise ValueError(f"{len(values)} values for {num_clips} clips: give one per clip, or two (view 1, view 2)")


def stack_clips(params: list[ViewParams]) -> dict[str, np.ndarray]:
    """The parameters of several clips concatenated along frames, as the graph takes them (one chain for all)."""
    return {name: np.concatenate([getattr(p, name) for p in params]) for name in PARAM_NAMES}


def random_resized_crop_box(
    rng: np.random.Generator, size: tuple[int, int], area: tuple[float, float], aspect: tuple[float, float]
) -> tuple[float, float, float, float]:
    """A crop box (x0, y0, w, h) of a (width, height) frame with area fraction in ``area`` and log-uniform aspect
    ratio in ``aspect``.

    Ten tries as in Inception/SimCLR; then the largest centred box with the aspect ratio clamped into range.
    """
    width, height = size
    total = width * height
    for _ in range(10):
        target = rng.uniform(*area) * total
        ratio = np.exp(rng.uniform(np.log(aspect[0]), np.log(aspect[1])))
        w, h = np.sqrt(target * ratio), np.sqrt(target / ratio)
        if w <= width and h <= height:
            return float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), float(w), float(h)
    ratio = float(np.clip(width / height, *aspect))
    w, h = (float(width), width / ratio) if width / height <= ratio else (height * ratio, float(height))
    return (width - w) / 2, (height - h) / 2, w, h


def crop_flip_matrix(box: tuple[float, float, float, float], out_size: int, flip: bool) -> np.ndarray:
    """The 2x3 affine map from output pixel coordinates to source coordinates (DALI warp_affine's inverse map)."""
    x0, y0, w, h = box
    sx, sy = w / out_size, h / out_size
    if flip:
        return np.array([[-sx, 0.0, x0 + w], [0.0, sy, y0]], dtype=np.float32)
    return np.array([[sx, 0.0, x0], [0.0, sy, y0]], dtype=np.float32)


def blur_window(crop_size: int, sigma: float | None = None) -> int:
    """Odd Gaussian kernel diameter: about 10% of the crop side (SimCLR's choice), at least 3.

    Given ``sigma``, no wider than +-3 sigma (the tails beyond hold 0.3% of the weight: the same image with fewer
    taps, which is most of the blur's cost on a CPU), and 1, the identity, for sigma 0.
    """
    full = max(3, int(0.1 * crop_size) // 2 * 2 + 1)
    if sigma is None:
        return full
    return 1 if sigma <= 0 else min(full, 2 * math.ceil(3 * sigma) + 1)


def hue_matrix(turns: float) -> np.ndarray:
    """Rotate hue by ``turns`` of a full circle (a rotation of the I/Q plane of YIQ)."""
    c, s = np.cos(2 * np.pi * turns), np.sin(2 * np.pi * turns)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return _YIQ2RGB @ rotation @ _RGB2YIQ


def saturation_matrix(factor: float) -> np.ndarray:
    """Blend with the luma grey: factor 0 is grayscale, 1 is the identity."""
    return factor * np.eye(3) + (1 - factor) * np.outer(np.ones(3), LUMA)


def colour_maps(
    rng: np.random.Generator,
    jitter: bool,
    strength: float,
    grayscale: bool,
    *,
    maxima: tuple[float, float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) of y = A x + B mu for one frame: colour jitter in a random order, then optional grayscale.

    Each op maps (A, B) so that the current image is A x + B mu. Linear ops L give (L A, L B); contrast c
    pivots on the current mean (A + B) mu, giving (c A, c B + (1 - c)(A + B)). ``maxima``: the jitter's largest
    changes (ViewAugConfig.jitter), instead of the strength's.
    """
    a, b = np.eye(3), np.zeros((3, 3))
    if jitter:
        bright, contrast, saturation, hue = maxima or (0.8 * strength, 0.8 * strength, 0.8 * strength, 0.2 * strength)
        factors = {
            "brightness": rng.uniform(max(0.0, 1 - bright), 1 + bright),
            "contrast": rng.uniform(max(0.0, 1 - contrast), 1 + contrast),
            "saturation": rng.uniform(max(0.0, 1 - saturation), 1 + saturation),
            "hue": rng.uniform(-hue, hue),
        }
        for op in rng.permutation(list(factors)):
            f = factors[op]
            if op == "contrast":
                a, b = f * a, f * b + (1 - f) * (a + b)
            else:
                linear = {"brightness": f * np.eye(3), "saturation": saturation_matrix(f), "hue": hue_matrix(f)}[op]
                a, b = linear @ a, linear @ b
    if grayscale:
        gray = saturation_matrix(0.0)
        a, b = gray @ a, gray @ b
    return a.astype(np.float32), b.astype(np.float32)


def draw_view_params(
    rng: np.random.Generator, cfg: ViewAugConfig, num_frames: int, size: tuple[int, int]
) -> ViewParams:
    """All random parameters of one view of ``num_frames`` frames from a video of ``size`` (width, height)."""
    draws = 1 if cfg.consistent else num_frames
    per_draw = []
    for _ in range(draws):
        box = random_resized_crop_box(rng, size, cfg.crop_area, cfg.crop_aspect)
        warp = crop_flip_matrix(box, cfg.crop_size, flip=rng.random() < cfg.flip_prob)
        jitter, gray = rng.random() < cfg.jitter_prob, rng.random() < cfg.grayscale_prob
        a, b = colour_maps(rng, jitter, cfg.strength, gray, maxima=cfg.jitter)
        sigma = rng.uniform(*cfg.blur_sigma) if rng.random() < cfg.blur_prob else 0.0
        solarize = 1.0 if rng.random() < cfg.solarize_prob else 0.0
        per_draw.append((warp, a, b, sigma, blur_window(cfg.crop_size, sigma), solarize))
    if cfg.consistent:
        per_draw = per_draw * num_frames
    warp, a, b, sigma, window, solarize = (np.stack(x) for x in zip(*per_draw, strict=True))
    return ViewParams(warp, a, b, sigma.astype(np.float32), window.astype(np.int32), solarize.astype(np.float32))
