"""Where a sample's decoding time goes, in one process, per decoder: why ``bench_data.py``'s sparse_vs_whole is what
it is, and its ceiling. Prints one JSON line of mean ms per sample over the same samples for every part.

- frames_sparse / frames_whole: frames decoded per sample from the kept packets (the spans) / from frame 0 to the
  last frame needed; their ratio is the ceiling of sparse ÷ whole if decoding frames were the only cost
- remux_ms: keeping the packets and remuxing them (dali_pipelines/packets.py)
- pyav_*: PyAV on the kept packets: decoding alone, converting the wanted frames to RGB alone, and the two through
  dali_pipelines.pyav_decode (the source's PyAV path) on the kept packets and on the whole file
- dali_*: DALI's CPU decoder (VP8/VP9/MJPEG), one sample per pipeline run, one thread: the wanted frames from the
  kept packets, only the last one (every frame decoded, one converted and copied out), and the whole file asked
  for the clips' frames as the pipeline did before packets.py; dali_ms_per_output_frame is what each further
  frame handed out costs
- decord_ms: decord's get_batch of the same frames (when decord is installed: requirements-decord.txt)

Example: python benchmarks/bench_decode_costs.py --codec vp9 --video-seconds 60 --width 1280 --height 720 --videos 4
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from baselines import decode_decord, decord_installed, pair_frames  # benchmarks/baselines.py
from bench_videos import ENCODERS, make_videos, video_folder  # benchmarks/bench_videos.py

from dali_pipelines.decoders import DALI_CPU_CODECS
from dali_pipelines.packets import spans, sparse_video
from dali_pipelines.pyav_decode import decode_pyav, frame_rgb


def mean_ms(work: Callable[[int], object], n: int) -> float:
    """Mean ms of ``work(i)`` over i < n, after one untimed call."""
    work(0)
    start = time.perf_counter()
    for i in range(n):
        work(i)
    return 1000 * (time.perf_counter() - start) / n


def span_frames(frames: np.ndarray, keyframes: np.ndarray) -> int:
    """Frames decoded from the kept packets of a sample: its spans' lengths."""
    return sum(last - first + 1 for first, last in spans(frames, keyframes))


def pyav_parts(data: bytes, frames: np.ndarray) -> tuple[float, float]:
    """ms decoding the stream up to its last wanted frame, and ms converting the wanted frames to RGB."""
    import av
    from av.video.reformatter import VideoReformatter

    rgb, wanted, last = VideoReformatter(), set(frames.tolist()), int(frames.max())
    decoding = converting = 0.0
    with av.open(io.BytesIO(data)) as container:
        decoded = container.decode(video=0)
        for k in range(last + 1):
            start = time.perf_counter()
            frame = next(decoded)
            decoding += time.perf_counter() - start
            if k in wanted:
                start = time.perf_counter()
                frame_rgb(frame, rgb)  # as the pipeline's PyAV path converts
                converting += time.perf_counter() - start
    return 1000 * decoding, 1000 * converting


def dali_ms(items: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean ms per sample of DALI's CPU decoder on (encoded bytes, frames) items, one sample per run, one thread."""
    import nvidia.dali.fn as fn
    from nvidia.dali.pipeline import pipeline_def

    position = iter(range(1 << 30))

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def graph():
        encoded, frames = fn.external_source(lambda _: items[next(position) % len(items)], num_outputs=2, batch=False)
        return fn.decoders.video(encoded, frames=frames, device="cpu", pad_mode="none")

    pipe = graph()
    pipe.build()
    return mean_ms(lambda _: pipe.run(), len(items))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="vp9")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--video-seconds", type=float, default=10.0, help="length of the generated videos (25 fps)")
    parser.add_argument("--gop", type=int, default=50, help="a keyframe every GOP frames in the generated videos")
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--num-frames", type=int, default=16, help="frames per clip")
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--video-dir", type=Path, help="keep (and reuse) the generated videos here")
    args = parser.parse_args()
    length = round(args.video_seconds * 25)

    with video_folder(args.video_dir) as tmp:
        size = (args.width, args.height)
        table = make_videos(Path(tmp), args.videos, length, size=size, codec=args.codec, gop=args.gop)
        rng = np.random.default_rng(0)
        samples = []  # (video, frames in the clips' order, the kept packets)
        for i in range(args.samples):
            v = i % len(table)
            frames = pair_frames(length, args.num_frames, args.stride, rng)
            kept = sparse_video(table.paths[v], frames, table.keyframes[v], table.keyframe_pts[v])
            samples.append((v, frames, kept))

        def remux(i: int) -> None:
            v, frames, _ = samples[i]
            sparse_video(table.paths[v], frames, table.keyframes[v], table.keyframe_pts[v])

        n = len(samples)
        parts = np.array([pyav_parts(kept.data, kept.frames) for _, _, kept in samples])
        figures = {
            "videos": f"{args.videos} x {length} frames, {args.width}x{args.height}, {args.codec}, gop {args.gop}",
            "samples": n,
            "frames_sparse": float(
                np.mean([sum(b - a + 1 for a, b in spans(f, table.keyframes[v])) for v, f, _ in samples])
            ),
            "frames_whole": float(np.mean([f.max() + 1 for _, f, _ in samples])),
            "frames_wanted": float(np.mean([len(np.unique(f)) for _, f, _ in samples])),
            "remux_ms": mean_ms(remux, n),
            "pyav_decode_ms": float(parts[:, 0].mean()),
            "pyav_convert_ms": float(parts[:, 1].mean()),
            "pyav_sparse_ms": mean_ms(lambda i: decode_pyav(samples[i][2].data, samples[i][2].frames), n),
            "pyav_whole_ms": mean_ms(lambda i: decode_pyav(table.paths[samples[i][0]], np.unique(samples[i][1])), n),
        }
        if args.codec in DALI_CPU_CODECS:
            kept = [(np.frombuffer(k.data, np.uint8), k.frames) for _, _, k in samples]
            figures["dali_sparse_ms"] = dali_ms(kept)
            figures["dali_last_frame_only_ms"] = dali_ms([(d, f[-1:]) for d, f in kept])
            whole = [(np.fromfile(table.paths[v], np.uint8), f.astype(np.int32)) for v, f, _ in samples]
            figures["dali_whole_ms"] = dali_ms(whole)
            extra = figures["frames_wanted"] - 1
            figures["dali_ms_per_output_frame"] = (
                figures["dali_sparse_ms"] - figures["dali_last_frame_only_ms"]
            ) / extra
        if decord_installed():
            figures["decord_ms"] = mean_ms(lambda i: decode_decord(table.paths[samples[i][0]], samples[i][1]), n)
    figures["frame_ratio"] = figures["frames_whole"] / figures["frames_sparse"]
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
