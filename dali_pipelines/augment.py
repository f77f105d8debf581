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

    Steps whose probability is 0 in ``cfg`` are left out of the graph.
    """
    crop_size = cfg.crop_size
    # One affine warp per frame does the random resized crop and the flip (warp_affine takes per-frame
    # matrices; crop and flip do not accept per-frame arguments, which the inconsistent ablation needs).
    x = fn.warp_affine(
        frames,
        matrix=fn.per_frame(params["warp"]),
        size=[crop_size, crop_size],
        interp_type=types.INTERP_LINEAR,
        fill_value=0,
    )
    x = fn.cast(x, dtype=types.FLOAT) * (1.0 / 255.0)
    if cfg.jitter_prob > 0 or cfg.grayscale_prob > 0:
        # y = A x + B mu: mu is the clip's per-channel mean, which contrast pivots on (params.colour_maps).
        mu = fn.reductions.mean(x, axes=[0, 1, 2])
        b = on_device(params["colour_b"], device)
        bias = b[:, :, 0] * mu[0] + b[:, :, 1] * mu[1] + b[:, :, 2] * mu[2]
        bias = fn.reshape(bias, shape=[-1, 1, 1, 3], layout="FHWC")
        x = dmath.clamp(fn.coord_transform(x, M=fn.per_frame(params["colour_a"])) + bias, 0.0, 1.0)
    if cfg.blur_prob > 0:
        sigma = params["blur_sigma"]
        if fn.reductions.max(sigma) > 0.0:
            # Frames with sigma 0 get a kernel that underflows to the identity in float32.
            x = fn.gaussian_blur(x, sigma=fn.per_frame(dmath.max(sigma, 0.01)), window_size=blur_window(crop_size))
    if cfg.solarize_prob > 0:
        flag = on_device(fn.reshape(params["solarize"], shape=[-1, 1, 1, 1], layout="FHWC"), device)
        x = x + flag * (x >= 0.5) * (1.0 - 2.0 * x)
    return fn.transpose(x, perm=[3, 0, 1, 2], output_layout="CFHW")
