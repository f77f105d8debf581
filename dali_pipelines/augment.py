"""The DALI graph of the spatial augmentation of one or more clips, driven by per-frame parameters (params.py).

All clips of a sample (the rho CVRL views) go through ONE chain of operators, stacked along the frame axis: each
frame carries its own clip's parameters, so on a CPU the rho views cost one pass per step instead of rho, and
nothing is sliced or transposed. Runs unchanged on CPU and GPU: the frames may live on either; parameters arrive
as CPU nodes and are only moved to the GPU where they enter arithmetic with the frames (``on_device``).
Output: float32 FHWC in [0, 1], channels last; the loader hands it on as (C, T, H, W) views of the same memory
(the channels_last_3d layout), see cvrl_pl.data.batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import nvidia.dali.fn as fn
import nvidia.dali.math as dmath
import nvidia.dali.types as types
from nvidia.dali.pipeline import DataNode

from dali_pipelines.params import ViewAugConfig


def to_float(x: DataNode) -> DataNode:
    """uint8 frames -> float32 in [0, 1], same layout."""
    return fn.cast(x, dtype=types.FLOAT) * (1.0 / 255.0)


def on_device(node: DataNode, device: str) -> DataNode:
    """A CPU node moved to the GPU when the frames are there (arithmetic needs both operands on one device)."""
    return node.gpu() if device == "gpu" else node


def augment_clips(
    frames: DataNode, params: dict[str, DataNode], views: Sequence[ViewAugConfig], device: str
) -> DataNode:
    """Crop + flip, colour map, clip, blur, solarize ``len(views)`` equally long clips of uint8 frames (FHWC),
    stacked along F, each with its own view's parameters; returns float FHWC.

    Steps that no view applies (probability 0) are left out of the graph; blur and solarize run only on the
    samples that draw them, and leave the frames that did not draw them unchanged.
    """
    sizes = {v.crop_size for v in views}
    if len(sizes) != 1:
        raise ValueError(f"the clips of one sample share one crop size, got {sorted(sizes)}")
    size = [sizes.pop()] * 2
    # Crop + flip as a per-frame affine map (a temporally consistent clip repeats one matrix over its frames).
    # Bilinear without antialiasing, as the official code's tf.image.resize; float output, so the conversion
    # costs no extra pass over the pixels.
    x = fn.warp_affine(
        frames, matrix=fn.per_frame(params["warp"]), size=size, interp_type=types.INTERP_LINEAR, dtype=types.FLOAT
    )
    if any(v.jitter_prob > 0 or v.grayscale_prob > 0 for v in views):
        # y = A x + B mu on [0, 1] pixels, mu each clip's per-channel mean (contrast pivots on it: params.colour_maps).
        # The 1/255 scaling is folded into A and B.
        n = len(views)
        mu = fn.reductions.mean(fn.reshape(x, shape=[n, -1, 3]), axes=[1])  # (clips, 3), in [0, 255]
        b = fn.reshape(on_device(params["colour_b"] * (1.0 / 255.0), device), shape=[n, -1, 3, 3])
        bias = fn.reductions.sum(b * fn.reshape(mu, shape=[n, 1, 1, 3]), axes=[3])  # (clips, T, 3): B mu per frame
        bias = fn.reshape(bias, shape=[-1, 1, 1, 3], layout="FHWC")
        a = fn.per_frame(params["colour_a"] * (1.0 / 255.0))
        # min(max()) rather than math.clamp: the same values; in isolation about 10% cheaper on DALI's CPU backend.
        x = dmath.min(dmath.max(fn.coord_transform(x, M=a, dtype=types.FLOAT) + bias, 0.0), 1.0)
    else:
        x = x * (1.0 / 255.0)
    if any(v.blur_prob > 0 for v in views):
        sigma = params["blur_sigma"]
        if fn.reductions.max(sigma) > 0.0:
            # Unblurred frames have window 1: the identity, whatever sigma DALI derives for them.
            x = fn.gaussian_blur(x, sigma=fn.per_frame(sigma), window_size=fn.per_frame(params["blur_window"]))
    if any(v.solarize_prob > 0 for v in views):
        flags = params["solarize"]
        if fn.reductions.max(flags) > 0.0:
            # Solarize folds x >= 0.5 to 1 - x, i.e. subtracts max(2x - 1, 0), on the flagged frames.
            flag = on_device(fn.reshape(flags, shape=[-1, 1, 1, 1], layout="FHWC"), device)
            x = x - flag * dmath.max(2.0 * x - 1.0, 0.0)
    return x
