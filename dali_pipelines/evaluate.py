"""Evaluation graphs (linear evaluation and kNN): one augmented train clip, or N temporal x S spatial test views.

Test views follow the paper's protocol: resize the short side to ``short_side``, then take ``num_spatial``
square crops along the long side of each of the ``num_temporal`` clips (a sample is one clip of one video, or with
``segments`` one clip from each part of it, frames concatenated).
"""

from __future__ import annotations

import nvidia.dali.fn as fn
from nvidia.dali.pipeline import Pipeline, pipeline_def

from dali_pipelines.augment import augment_clips, to_float
from dali_pipelines.graph import PREFETCH, decode, pipeline_kwargs, read_samples
from dali_pipelines.sources import TestViewSource, TrainClipSource

OUTPUTS = ("views", "label", "video_id", "clip_idx")


def eval_pipeline(
    source: TrainClipSource | TestViewSource,
    device_id: int | None,
    *,
    crop_size: int,
    short_side: int = 256,
    num_threads: int = 2,
    py_workers: int = 2,
    seed: int = 0,
    prefetch: int = PREFETCH,
) -> Pipeline:
    """Outputs ``OUTPUTS``; views are float (T, S, S, C) from a TrainClipSource and (num_spatial, T, S, S, C) from a
    TestViewSource (channels last, as the pretraining graph's)."""
    device = "cpu" if device_id is None else "gpu"

    @pipeline_def(enable_conditionals=True)
    def graph():
        sample = read_samples(source, py_workers, prefetch)
        frames = decode(sample, device)
        if isinstance(source, TrainClipSource):
            views = augment_clips(frames, sample, [source.view] * source.segments, device)  # one clip a part
        else:
            frames = fn.resize(frames, resize_shorter=short_side)
            pos = sample["crop_pos"]
            crops = [
                fn.crop(frames, crop=[crop_size, crop_size], crop_pos_x=pos[i, 0], crop_pos_y=pos[i, 1])
                for i in range(source.num_spatial)
            ]
            views = to_float(fn.stack(*crops))
        return views, sample["label"], sample["video_id"], sample["clip_idx"]

    kwargs = {"num_threads": num_threads, "py_workers": py_workers, "seed": seed, "prefetch": prefetch}
    return graph(**pipeline_kwargs(source, device_id, **kwargs))
