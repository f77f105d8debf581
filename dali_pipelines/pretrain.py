"""The CVRL pretraining graph: one read per video -> both clips in one decoder call -> two augmented views.

The same graph runs on CPU (``device_id=None``) and GPU; the device-specific lines are in sources.decode
(``mixed`` = NVDEC) and augment.on_device.
"""

from __future__ import annotations

from nvidia.dali.pipeline import Pipeline, pipeline_def

from dali_pipelines.augment import augment_view
from dali_pipelines.sources import PARAM_NAMES, PretrainSource, decode, pipeline_kwargs, read_samples

OUTPUTS = ("view1", "view2", "starts", "video_id")


def pretrain_pipeline(
    source: PretrainSource,
    device_id: int | None,
    num_threads: int = 2,
    py_workers: int = 2,
    seed: int = 0,
    prefetch: int = 2,
) -> Pipeline:
    """Build the pretraining pipeline; outputs ``OUTPUTS``, each view float32 (C, T, H, W) in [0, 1]."""
    device = "cpu" if device_id is None else "gpu"
    t = source.num_frames

    @pipeline_def(enable_conditionals=True)
    def graph():
        sample = read_samples(source, py_workers, prefetch)
        frames = decode(sample["video"], sample["frames"], source.decoder, device)
        views = []
        for v, clip in ((1, frames[:t]), (2, frames[t:])):
            params = {name: sample[f"{name}{v}"] for name in PARAM_NAMES}
            views.append(augment_view(clip, params, source.views[v - 1], device))
        return views[0], views[1], sample["starts"], sample["video_id"]

    return graph(**pipeline_kwargs(source, device_id, num_threads, py_workers, seed, prefetch))
