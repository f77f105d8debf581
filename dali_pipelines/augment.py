"""The DALI graph of one view's spatial augmentation, driven by per-frame parameters from params.py.

Runs unchanged on CPU and GPU: the frames may live on either; parameters arrive as CPU nodes and are only moved
to the GPU where they enter arithmetic with the frames (``on_device``). Output: float32 CFHW in [0, 1].
"""

from __future__ import annotations

import nvidia.dali.fn as fn
import nvidia.dali.math as dmath
import nvidia.dali.types as types
from nvidia.dali.pipeline import DataNode

from dali_pipelines.params import ViewAugConfig


def to_float_cfhw(x: DataNode) -> DataNode:
    """uint8 FHWC frames -> float32 in [0, 1], channels first (C, T, H, W), the layout the encoder takes."""
    x = fn.cast(x, dtype=types.FLOAT) * (1.0 / 255.0)
    return fn.transpose(x, perm=[3, 0, 1, 2], output_layout="CFHW")


def on_device(node: DataNode, device: str) -> DataNode:
    """A CPU node moved to the GPU when the frames are there (arithmetic needs both operands on one device)."""
    return node.gpu() if device == "gpu" else node


def blur_window(crop_size: int) -> int:
    """Odd Gaussian kernel size of about 10% of the crop side (SimCLR's choice), at least 3."""
    return max(3, int(0.1 * crop_size) // 2 * 2 + 1)


def augment_view(frames: DataNode, params: dict[str, DataNode], cfg: ViewAugConfig, device: str) -> DataNode:
    """Crop + flip, colour map, clip, blur, solarize one view of uint8 frames (FHWC); returns float CFHW.

    Steps whose probability is 0 in ``cfg`` are left out of the graph; blur and solarize run only on the
    samples that draw them.
    """
    size = [cfg.crop_size, cfg.crop_size]
    if cfg.consistent:
        # One crop for the whole clip: a bilinear resize of the ROI (a reversed x range flips). No antialiasing,
        # as in the official code's tf.image.resize, and as the per-frame warp below.
        x = fn.resize(frames, size=size, roi_start=params["roi"][0], roi_end=params["roi"][1], antialias=False)
    else:
        # The ablation's per-frame crops: resize takes no per-frame ROI, warp_affine takes per-frame matrices.
        x = fn.warp_affine(frames, matrix=fn.per_frame(params["warp"]), size=size, interp_type=types.INTERP_LINEAR)
    if cfg.jitter_prob > 0 or cfg.grayscale_prob > 0:
        # y = A x + B mu on [0, 1] pixels, mu the clip's per-channel mean (contrast pivots on it: params.colour_maps).
        # The 1/255 scaling is folded into the maps, so the uint8 frames become float in the same pass.
        mu = fn.reductions.mean(x, axes=[0, 1, 2], dtype=types.FLOAT)
        b = on_device(params["colour_b"] * (1.0 / 255.0), device)
        bias = fn.reshape(
            b[:, :, 0] * mu[0] + b[:, :, 1] * mu[1] + b[:, :, 2] * mu[2], shape=[-1, 1, 1, 3], layout="FHWC"
        )
        a = fn.per_frame(params["colour_a"] * (1.0 / 255.0))
        x = dmath.clamp(fn.coord_transform(x, M=a, dtype=types.FLOAT) + bias, 0.0, 1.0)
    else:
        x = fn.cast(x, dtype=types.FLOAT) * (1.0 / 255.0)
    if cfg.blur_prob > 0:
        sigma = params["blur_sigma"]
        if fn.reductions.max(sigma) > 0.0:
            # Frames with sigma 0 (unblurred frames of the ablation) get a kernel that underflows to the identity.
            x = fn.gaussian_blur(x, sigma=fn.per_frame(dmath.max(sigma, 0.01)), window_size=blur_window(cfg.crop_size))
    if cfg.solarize_prob > 0:
        flags = params["solarize"]
        if fn.reductions.max(flags) > 0.0:
            flag = on_device(fn.reshape(flags, shape=[-1, 1, 1, 1], layout="FHWC"), device)
            x = x + flag * (x >= 0.5) * (1.0 - 2.0 * x)
    return fn.transpose(x, perm=[3, 0, 1, 2], output_layout="CFHW")
