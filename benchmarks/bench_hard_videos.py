"""DALI's decoders on the hard videos (benchmarks/hard_videos.py), the way training hands them a video, against PyAV:
prints one JSON line per run, each video's figures, or why it was not decoded.

Per video: built, probed by the index's probe (codec, size, frames, keyframes), two 8-frame clips asked for as a
training sample asks (one across a keyframe, one at the end), their packets remuxed by packets.sparse_video, and
decoded by DALI through the training graphs' decoding: ``--device gpu`` forces NVDEC on every video, even those our
routing sends elsewhere (the point is to see what NVDEC does with them); ``--device cpu`` is DALI's CPU decoder,
which reads only VP8, VP9 and MJPEG. PyAV decodes the same frames of the original file. Figures: PSNR over all
frames ("inf" where equal), mean absolute, per-channel mean and largest absolute difference, and where DALI failed,
its words. Also what the routing (dali_pipelines/decoders.py) picks for the video on a GPU of ``--capability``:
"misrouted" lists the videos the decoder under test got wrong although the routing would send them to it.

Each DALI decode runs in a process of its own: NVDEC forced onto a frame size it cannot take may crash or leave a
sticky CUDA error, which then costs that video only.

    python benchmarks/bench_hard_videos.py --device gpu --json hard_videos.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np
from hard_videos import HARD_VIDEOS  # benchmarks/hard_videos.py

from cvrl_pl.data.index.probe import probe_video
from dali_pipelines.decoders import (
    DALI_CPU,
    DALI_CPU_CODECS,
    DECODER_NAMES,
    NVDEC,
    decoder_for,
    nvdec_faults,
    parse_capability,
)
from dali_pipelines.packets import sparse_video
from dali_pipelines.pyav_decode import decode_pyav
from dali_pipelines.sampling import clip_frame_indices
from dali_pipelines.verify import dali_frames, error_message

CLIP = 8  # frames per clip, two clips per sample
MATCH = 2.0  # the most mean absolute difference from PyAV that counts as the same frames (decoder_check's bound)


def wanted_frames(num_frames: int, keyframes: tuple[int, ...]) -> np.ndarray:
    """The frames of two 8-frame clips, as one training sample asks for them: one from 4 frames before the first
    keyframe after frame 0 (a third of the way in, where there is none), and the video's last 8 frames."""
    across = [k for k in keyframes if CLIP // 2 <= k <= num_frames - CLIP // 2]
    first = across[0] - CLIP // 2 if across else min(num_frames // 3, max(num_frames - CLIP, 0))
    last = max(num_frames - CLIP, 0)
    return np.concatenate([clip_frame_indices(s, CLIP, 1, num_frames) for s in (first, last)])


def routes_on(info, capability: tuple[int, int] | None) -> str:
    """The decoder our routing picks for a probed video on a GPU of ``capability`` (None: a CPU)."""
    faults = nvdec_faults(info.stream_faults, info.codec, info.width, info.height)
    return DECODER_NAMES[decoder_for(info.codec, info.bit_depth, info.chroma, capability, faults=faults)]


def compare(dali: np.ndarray, pyav: np.ndarray) -> dict:
    """DALI's frames against PyAV's, both uint8 (N, H, W, 3): PSNR in dB over all frames ("inf" where equal), mean
    absolute, per-channel mean (DALI - PyAV) and largest absolute difference; over the common part where the shapes
    differ (then both shapes are given)."""
    figures = {}
    if dali.shape != pyav.shape:
        common = tuple(min(a, b) for a, b in zip(dali.shape, pyav.shape, strict=True))
        figures |= {"dali_shape": list(dali.shape), "pyav_shape": list(pyav.shape)}
        dali, pyav = (x[tuple(slice(0, n) for n in common)] for x in (dali, pyav))
    diff = dali.astype(np.int16) - pyav
    mse = float(np.square(diff, dtype=np.float64).mean())
    return figures | {
        "psnr_db": round(10 * np.log10(255**2 / mse), 2) if mse else "inf",
        "mean_abs_diff": round(float(np.abs(diff).mean()), 3),
        "channel_mean_diff": [round(float(c), 3) for c in diff.reshape(-1, 3).mean(0)],
        "max_abs_diff": int(np.abs(diff).max()),
    }


def _decode_in_child(conn, encoded: np.ndarray, frames: np.ndarray, decoder: int, device_id: int | None) -> None:
    try:
        conn.send(("frames", dali_frames(encoded, frames, decoder, device_id)))
    except Exception as exc:  # noqa: BLE001 (whatever stops the decoder is the answer)
        conn.send(("error", error_message(exc)))


def dali_decode(
    data: bytes, frames: np.ndarray, decoder: int, device_id: int | None, timeout: float
) -> tuple[np.ndarray | None, str | None]:
    """DALI's ``decoder``'s frames of a remuxed stream, decoded in a process of its own; (frames, None), or (None,
    what went wrong: DALI's words, a crash, no answer within ``timeout`` seconds)."""
    context = multiprocessing.get_context("spawn")  # a fresh CUDA context per video
    receive, send = context.Pipe(duplex=False)
    encoded = np.frombuffer(data, np.uint8)
    process = context.Process(target=_decode_in_child, args=(send, encoded, frames, decoder, device_id))
    process.start()
    send.close()
    try:
        if not receive.poll(timeout):
            return None, f"no answer within {timeout:g} s"
        kind, value = receive.recv()
    except EOFError:
        process.join()
        return None, f"the decoding process died (exit code {process.exitcode})"
    finally:
        if process.is_alive():
            process.kill()
        process.join()
    return (value, None) if kind == "frames" else (None, value)


def one_video(path: Path, device: str, capability: tuple[int, int], timeout: float) -> dict:
    """One built video's figures (the module's docstring)."""
    info = probe_video(path)
    if isinstance(info, str):
        return {"error": f"probe: {info}"}
    wanted = wanted_frames(info.num_frames, info.keyframes)
    figures = {
        "codec": info.codec,
        "profile": info.profile,
        "size": [info.width, info.height],
        "frames": info.num_frames,
        "keyframes": list(info.keyframes),
        "frames_asked": wanted.tolist(),
        "route_gpu": routes_on(info, capability),
        "route_cpu": routes_on(info, None),
    }
    try:
        sparse = sparse_video(str(path), wanted, info.keyframes, info.keyframe_pts, fresh_start=device == "gpu")
    except Exception as exc:  # noqa: BLE001 (one video's failure is a line of the report)
        return figures | {"error": f"remux: {type(exc).__name__}: {exc}"}
    figures["remuxed_bytes"] = len(sparse.data)
    if device == "cpu" and info.codec not in DALI_CPU_CODECS:
        return figures | {"not_decoded": f"DALI's CPU decoder does not read {info.codec}"}
    decoder, device_id = (NVDEC, 0) if device == "gpu" else (DALI_CPU, None)
    decoded, error = dali_decode(sparse.data, sparse.frames, decoder, device_id, timeout)
    if error is not None:
        return figures | {"dali_error": error, "matches_pyav": False}
    figures["dali_frames"] = len(decoded)
    try:
        pyav = decode_pyav(str(path), wanted)
    except Exception as exc:  # noqa: BLE001
        return figures | {"error": f"pyav: {type(exc).__name__}: {exc}"}
    figures |= compare(decoded[sparse.order], pyav)
    return figures | {"matches_pyav": "dali_shape" not in figures and figures["mean_abs_diff"] <= MATCH}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu: NVDEC on every video")
    parser.add_argument("--capability", default="9.0", help="the GPU whose routing is reported (compute capability)")
    parser.add_argument("--videos", help="comma-separated names of hard videos (default: all)")
    parser.add_argument("--video-dir", type=Path, help="write (and keep) the videos here")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one video's DALI decode may take")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    capability = parse_capability(args.capability)
    names = args.videos.split(",") if args.videos else list(HARD_VIDEOS)
    start = time.perf_counter()

    videos = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.video_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            video = HARD_VIDEOS[name]
            try:
                path = video.build(folder)
            except Exception as exc:  # noqa: BLE001
                videos[name] = {"what": video.what, "error": f"build: {type(exc).__name__}: {exc}"}
                continue
            videos[name] = {"what": video.what, **one_video(path, args.device, capability, args.timeout)}
    decoder = "nvdec" if args.device == "gpu" else "dali_cpu"
    route = "route_gpu" if args.device == "gpu" else "route_cpu"
    figures = {
        "device": args.device,
        "decoder": decoder,
        "capability": args.capability,
        "videos": videos,
        # The decoder under test got these wrong, and routing would send them to it: what a training run would meet.
        "misrouted": [n for n, v in videos.items() if v.get(route) == decoder and v.get("matches_pyav") is False],
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
