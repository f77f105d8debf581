"""Which samples of a failed batch cannot be read or decoded: each made again on its own, outside the pipeline.

A decoding error inside a DALI graph ends the pipeline ("Current pipeline object is no longer valid") without
saying which sample of the batch caused it. The loader (cvrl_pl.data.loader) asks this module, then rebuilds the
pipeline with the culprits excluded. A sample is checked the way the pipeline made it: its source reads the file
(and, with PyAV, decodes it), and DALI's decoder decodes the same frames with the same decoder (NVDEC or CPU), one
sample a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import nvidia.dali.fn as fn
from nvidia.dali.pipeline import Pipeline, pipeline_def

from dali_pipelines.decoders import DECODER_NAMES, PYAV
from dali_pipelines.failures import ReadFailure, VideoReadError, first_line
from dali_pipelines.graph import decode
from dali_pipelines.sources import NO_FRAMES, VIDEO_OUTPUTS, ClipSource
from dali_pipelines.table import VideoTable


def error_message(exc: BaseException) -> str:
    """The decoder's own words. DALI wraps them in the pipeline's traceback ("... encountered:" then the message,
    then its C++ context); other errors are their first line."""
    text = str(exc)
    found = re.search(r"encountered:\s*(.+?)\s*(?:C\+\+ context:|Current pipeline object|$)", text, re.S)
    if found:
        message = re.sub(r"^\[[^\]]*\]\s*", "", found.group(1).strip())  # a leading [file.cc:line] tag
        return re.sub(r'^Assert on ".*?" failed:\s*', "", message).splitlines()[0]
    return first_line(exc)


CHECKED = VIDEO_OUTPUTS  # what the check pipeline is fed of a sample


class OneSample:
    """The check pipeline's source: the sample under test's CHECKED outputs."""

    def __init__(self) -> None:
        self.sample: tuple[np.ndarray, ...] | None = None

    def __call__(self, info) -> tuple[np.ndarray, ...]:
        return self.sample


def check_pipeline(feed: OneSample, device_id: int | None) -> Pipeline:
    """A one-sample pipeline that decodes ``feed``'s sample as the training graphs do (by its own decoder, NVDEC
    among them on a GPU); unbuilt."""

    @pipeline_def(batch_size=1, num_threads=1, device_id=device_id, prefetch_queue_depth=1, enable_conditionals=True)
    def graph():
        sample = dict(zip(CHECKED, fn.external_source(feed, num_outputs=len(CHECKED), batch=False)))  # noqa: B905
        return decode(sample, "cpu" if device_id is None else "gpu")

    return graph()


def dali_failure(table: VideoTable, vid: int, decoder: int, exc: BaseException) -> ReadFailure:
    """Video ``vid``'s failure in DALI's ``decoder`` (NVDEC or its CPU decoder), in the decoder's own words."""
    message = error_message(exc)
    return ReadFailure(
        str(table.paths[vid]), "decoding", type(exc).__name__, message, DECODER_NAMES[decoder], table.format_of(vid)
    )


def undecodable(
    source: ClipSource, epoch: int, positions: Iterable[int], device_id: int | None = None
) -> dict[int, ReadFailure]:
    """Video id -> what went wrong (stage, exception, decoder, codec), for each video that fails at the given plan
    positions of ``epoch``."""
    found: dict[int, ReadFailure] = {}
    feed, pipeline = OneSample(), None
    for i in positions:
        item, _ = source.item_at(epoch, i)
        vid = source.video_of(item)
        if vid in found:
            continue
        try:
            outputs = source.sample_at(epoch, i)  # reads; PyAV decodes
        except VideoReadError as exc:  # the source's stages: reading, remuxing, PyAV decoding, a frame missing
            found[vid] = exc.failure
            continue
        if source.decoders[vid] == PYAV:
            continue
        feed.sample = tuple(outputs[k] for k in CHECKED)
        try:
            if pipeline is None:
                pipeline = check_pipeline(feed, device_id)
                pipeline.build()
            pipeline.run()
        except Exception as exc:  # whatever stops DALI's decoder on this sample is what stopped the pipeline
            found[vid] = dali_failure(source.table, vid, int(source.decoders[vid]), exc)
            pipeline = None  # a failed DALI pipeline cannot run again
    return found


def dali_frames(encoded: np.ndarray, frames: np.ndarray, decoder: int, device_id: int | None) -> np.ndarray:
    """``frames`` (ascending, each once) of the encoded stream as ``decoder`` (NVDEC or DALI's CPU decoder) decodes
    them on ``device_id``, through the training graphs' decoding: uint8 (N, H, W, 3) on the host. Raises what DALI
    raised."""
    feed = OneSample()
    order = np.arange(len(frames), dtype=np.int32)
    feed.sample = (encoded, NO_FRAMES, np.asarray(decoder, np.int32), np.asarray(frames, np.int32), order)
    pipeline = check_pipeline(feed, device_id)
    pipeline.build()
    (out,) = pipeline.run()
    return np.array((out.as_cpu() if device_id is not None else out)[0])
