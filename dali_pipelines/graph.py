"""The pieces every graph starts with: the per-sample source as the graph's entry, decoding each video with its own
decoder, and the pipeline's arguments. The device-specific lines of the whole project's graphs are here and in
augment.on_device: ``mixed`` is DALI's NVDEC decoder (GPU), ``cpu`` its software one (VP8/VP9/MJPEG only)."""

from __future__ import annotations

import warnings

import nvidia.dali.fn as fn
from nvidia.dali.pipeline import DataNode

from dali_pipelines.decoders import DALI_CPU, NVDEC
from dali_pipelines.sources import ClipSource

# Parameters of steps that a view never applies (probability 0) are produced but pruned from the graph: harmless.
warnings.filterwarnings("ignore", message="The external source node .* not used")


# Batches the pipeline and its parallel sources prepare ahead of the one being consumed.
PREFETCH = 2


def read_samples(source: ClipSource, py_workers: int, prefetch: int) -> dict[str, DataNode]:
    """The graph's entry: the source's outputs by name, produced by ``py_workers`` processes in parallel."""
    parallel = {"parallel": True, "prefetch_queue_depth": prefetch} if py_workers > 0 else {}
    outputs = fn.external_source(source, num_outputs=len(source.OUTPUTS), batch=False, **parallel)
    return dict(zip(source.OUTPUTS, outputs))  # noqa: B905 (DALI's autograph has no zip(strict=))


def decode(sample: dict[str, DataNode], device: str) -> DataNode:
    """uint8 frames (F, H, W, C) on ``device``, each sample by its own decoder (``sample["decoder"]``): NVDEC
    ("mixed", GPU only), DALI's CPU decoder, or the PyAV frames the source already decoded. DALI's decoders pick
    ``sample["picks"]`` (each frame once, ascending) out of the packets the source kept; ``sample["order"]`` then
    puts them in the clips' order, repeats included. Conditionals split the batch by decoder and merge it again, so
    one batch may mix all three."""
    encoded, decoded, frames, decoder = (sample[k] for k in ("encoded", "decoded", "picks", "decoder"))
    # pad_mode "none": a frame past the end of the file is an error (the file changed since it was indexed), not a
    # silently padded clip; the loader finds the video and leaves it out.
    if device == "gpu":
        if decoder == NVDEC:
            out = fn.decoders.video(encoded, frames=frames, device="mixed", pad_mode="none")
        else:
            out = _decode_on_host(encoded, decoded, frames, decoder).gpu()
    else:
        out = _decode_on_host(encoded, decoded, frames, decoder)
    return fn.sequence_rearrange(out, new_order=sample["order"])


def _decode_on_host(encoded: DataNode, decoded: DataNode, frames: DataNode, decoder: DataNode) -> DataNode:
    """DALI's CPU decoder (VP8/VP9/MJPEG) where ``decoder`` says DALI_CPU, else the PyAV frames as they came."""
    if decoder == DALI_CPU:
        out = fn.decoders.video(encoded, frames=frames, device="cpu", pad_mode="none")
    else:
        out = fn.reshape(decoded, layout="FHWC")
    return out


def pipeline_kwargs(
    source: ClipSource, device_id: int | None, *, num_threads: int, py_workers: int, seed: int, prefetch: int
) -> dict:
    """Arguments of a ``pipeline_def`` graph fed by ``source``; ``device_id=None`` builds a CPU-only pipeline."""
    if device_id is None and source.decoders.uses(NVDEC):
        raise ValueError("a CPU pipeline cannot decode with NVDEC: route the videos for the CPU (capability None)")
    return {
        "batch_size": source.batch_size,
        "num_threads": num_threads,
        "device_id": device_id,
        "seed": seed,
        "py_num_workers": max(py_workers, 1),
        # Forking a process that has initialised CUDA is unsafe: spawn the Python workers on GPU machines.
        "py_start_method": "fork" if device_id is None else "spawn",
        "prefetch_queue_depth": prefetch,
    }
