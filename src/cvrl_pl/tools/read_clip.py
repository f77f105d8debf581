"""See what the loader gives for a video: frames read through exactly the pipeline's path.

``python -m cvrl_pl.tools.read_clip VIDEO --frames 0,5,5,200 [--decoder auto|dali|pyav] [--device cpu|gpu]
--out FILE.npy`` probes the video as indexing does (frame count, keyframes), hands the decoder only the packets
those frames need, decodes each frame once in the DALI graph the training pipeline uses (``graph.decode``, then the
frames back in the order asked), and saves them as uint8 (F, H, W, 3). Frames are numbered in display order from 0.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from cvrl_pl.data.decoding import device_capability
from cvrl_pl.data.index import VideoInfo, probe_video
from cvrl_pl.data.index.columns import Ragged
from cvrl_pl.errors import ConfigError, DatasetError
from dali_pipelines import storage
from dali_pipelines.decoders import DALI_CPU, NVDEC, PYAV, decoder_for, nvdec_faults
from dali_pipelines.failures import VideoReadError
from dali_pipelines.sources import ClipSource
from dali_pipelines.table import VideoTable
from dali_pipelines.verify import OneSample, check_pipeline, dali_failure


def one_video_table(path: str) -> tuple[VideoTable, VideoInfo]:
    """The sources' table of one video, probed as indexing probes it, and the probe; DatasetError if it is not
    usable."""
    info = probe_video(path)
    if isinstance(info, str):
        raise DatasetError(f"{path}: {info}")
    found = storage.stat(path)

    def runs(values: tuple[int, ...]) -> Ragged:
        return Ragged(np.asarray(values, np.int64), np.array([len(values)]))

    table = VideoTable(
        (os.path.abspath(path),), [info.num_frames], [info.width], [info.height], [-1],
        keyframes=runs(info.keyframes), keyframe_pts=runs(info.keyframe_pts), sizes=[found.size],
        mtimes=[found.mtime_ns], codecs=[info.codec], profiles=[info.profile],
    )  # fmt: skip
    return table, info


def read_clip(path: str, frames: list[int], *, decoder: str = "auto", device_id: int | None = None) -> np.ndarray:
    """Frames ``frames`` (display order, repeats allowed) of the video at ``path``, uint8 (F, H, W, 3), read and
    decoded as the training pipeline reads and decodes them; ``decoder``: auto (the routing table), dali (NVDEC on
    a GPU, DALI's CPU decoder on a CPU) or pyav."""
    table, info = one_video_table(path)
    wanted = np.asarray(frames, np.int64)
    if wanted.min() < 0 or wanted.max() >= info.num_frames:
        raise ConfigError(f"--frames: {path} has frames 0 to {info.num_frames - 1}; asked for {wanted.tolist()}")
    faults = nvdec_faults(info.stream_faults, info.codec, info.width, info.height)
    routed = decoder_for(info.codec, info.bit_depth, info.chroma, device_capability(device_id), faults=faults)
    code = {"auto": routed, "pyav": PYAV, "dali": NVDEC if device_id is not None else DALI_CPU}[decoder]
    if decoder == "dali" and routed == PYAV and code == DALI_CPU:
        raise ConfigError(f"--decoder dali: DALI's CPU decoder reads VP8/VP9/MJPEG at 8 bits, not {info.codec}")
    source = ClipSource(table, num_frames=len(wanted), stride=1, batch_size=1, decoders=np.array([code], np.int8))
    feed = OneSample()
    feed.sample = source.video(0, wanted)
    try:
        pipeline = check_pipeline(feed, device_id)
        pipeline.build()
        (out,) = pipeline.run()
    except Exception as exc:  # DALI's decoder: reported as a run reports it
        raise VideoReadError(dali_failure(table, 0, code, exc)) from exc
    return np.asarray(out.as_cpu()[0] if device_id is not None else out[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvrl_pl.tools.read_clip", description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--frames", required=True, help="comma-separated display indices, e.g. 0,5,5,200")
    parser.add_argument("--decoder", choices=("auto", "dali", "pyav"), default="auto")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="gpu: DALI on cuda:0 (NVDEC)")
    parser.add_argument("--out", required=True, help="where to save the frames (.npy)")
    args = parser.parse_args(argv)
    try:
        frames = [int(f) for f in args.frames.split(",") if f.strip()]
    except ValueError:
        print(f"error: --frames takes comma-separated integers, got {args.frames!r}", file=sys.stderr)
        return 2
    try:
        clip = read_clip(args.video, frames, decoder=args.decoder, device_id=0 if args.device == "gpu" else None)
    except (ConfigError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except VideoReadError as exc:  # the stage, the exception, the decoder, the codec, what to try: as a run reports
        print(f"error: {exc}", file=sys.stderr)
        return 1
    np.save(args.out, clip)
    print(f"{args.out}: {clip.shape[0]} frames of {clip.shape[2]}x{clip.shape[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
