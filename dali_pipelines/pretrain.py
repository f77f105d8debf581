"""The CVRL pretraining graph: one read per video -> all rho clips (two in the paper) in one decoder call -> every
view augmented in one chain of operators (augment.augment_clips).

The same graph runs on CPU (``device_id=None``) and GPU; the device-specific lines are in graph.decode
(``mixed`` = NVDEC) and augment.on_device.
"""

from __future__ import annotations

from nvidia.dali.pipeline import Pipeline, pipeline_def

from dali_pipelines.augment import augment_clips
from dali_pipelines.graph import PREFETCH, decode, pipeline_kwargs, read_samples
from dali_pipelines.params import PARAM_NAMES
from dali_pipelines.sources import PretrainSource

OUTPUTS = ("views", "starts", "video_id")


def pretrain_pipeline(
    source: PretrainSource,
    device_id: int | None,
    *,
    num_threads: int = 2,
    py_workers: int = 2,
    seed: int = 0,
    prefetch: int = PREFETCH,
) -> Pipeline:
    """Build the pretraining pipeline; outputs ``OUTPUTS``: ``views`` is float32 (rho T, H, W, C) in [0, 1], view 1's
    frames, then view 2's, ... (cvrl_pl.data.batches.split_views makes them rho (C, T, H, W) clips without a copy)."""
    device = "cpu" if device_id is None else "gpu"

    @pipeline_def(enable_conditionals=True)
    def graph():
        sample = read_samples(source, py_workers, prefetch)
        frames = decode(sample, device)
        views = augment_clips(frames, {name: sample[name] for name in PARAM_NAMES}, source.views, device)
        return views, sample["starts"], sample["video_id"]

    kwargs = {"num_threads": num_threads, "py_workers": py_workers, "seed": seed, "prefetch": prefetch}
    return graph(**pipeline_kwargs(source, device_id, **kwargs))
