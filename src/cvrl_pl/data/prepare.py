"""Transcode a video dataset for training: shorter side resized, constant frame rate, VP9 (.webm) or H.264 (.mp4).

The usual Kinetics preprocessing, in Python with PyAV (no ffmpeg binary needed). Every file under SRC is decoded,
resized so that its shorter side is ``--short-side`` (aspect kept, both sides even), resampled to a constant
``--fps`` (frame k is at time k/fps), and written under DST at the same relative path with the new extension.
Audio is dropped. Files that cannot be decoded are reported and skipped.

Why VP9 by default: NVIDIA DALI's CPU video decoder handles VP9 but not H.264, so a VP9 copy of a dataset trains on
a CPU-only machine too; on a GPU both codecs decode on the GPU.

The run is resumable: each output is written under a hidden temporary name in its folder and renamed when complete,
and a rerun skips the outputs that exist. CLI::

    python -m cvrl_pl.data.prepare SRC DST --short-side 256 --codec vp9 [--fps 25] [--workers N] [--crf N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, TypeVar

import av
from tqdm import tqdm

from cvrl_pl.data.index import open_video
from dali_pipelines import storage

T = TypeVar("T")


@dataclass(frozen=True)
class Codec:
    """An output codec: FFmpeg encoder, container, extension, and encoder options (fast settings)."""

    encoder: str
    container: str
    extension: str
    default_crf: int
    options: tuple[tuple[str, str], ...]
    container_options: tuple[tuple[str, str], ...] = ()


CODECS = {
    # realtime deadline and cpu-used 8: libvpx's fastest mode; row-mt spreads each frame over the encoder threads
    "vp9": Codec(
        "libvpx-vp9", "webm", ".webm", 32, (("deadline", "realtime"), ("cpu-used", "8"), ("row-mt", "1"), ("b:v", "0"))
    ),
    # faststart puts the index at the front, so that a reader can start without seeking to the end
    "h264": Codec("libx264", "mp4", ".mp4", 23, (("preset", "veryfast"),), (("movflags", "+faststart"),)),
}
# Timestamps in containers are rounded (Matroska to 1 ms): a source frame this much after an output instant counts
# as at that instant, so that resampling at the source's own rate keeps every frame.
TIME_TOLERANCE = Fraction(1, 1000)


def resize_shape(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the shorter side ``short_side`` and the aspect ratio kept, each rounded to an even number."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid frame size {width}x{height}")
    if short_side < 2 or short_side % 2:
        raise ValueError(f"short side must be an even number of pixels (yuv420p), got {short_side}")

    def even(x: Fraction) -> int:
        return max(2, 2 * int(x / 2 + Fraction(1, 2)))

    if width <= height:
        return short_side, even(Fraction(height * short_side, width))
    return even(Fraction(width * short_side, height)), short_side


def constant_rate(
    timed: Iterable[tuple[Fraction, T]], rate: Fraction, duration: Callable[[T], Fraction]
) -> Iterator[tuple[int, T]]:
    """(k, item) for output frames k = 0, 1, ... at times k / rate from the first item's time: the latest item at or
    before each time (up to TIME_TOLERANCE), until the end of the last item (its time plus ``duration(item)``)."""
    k, start, prev_time, prev = 0, None, Fraction(0), None
    for time, item in timed:
        if start is None:
            start, prev = time, item
            continue
        time = max(time - start, prev_time)  # out-of-order timestamps of a broken file: keep the order of decoding
        while Fraction(k) / rate + TIME_TOLERANCE < time:
            yield k, prev
            k += 1
        prev_time, prev = time, item
    if start is None:
        return
    end = prev_time + duration(prev)
    while Fraction(k) / rate + TIME_TOLERANCE < end:
        yield k, prev
        k += 1


def output_path(dst: str | os.PathLike, rel: str, codec: str) -> Path:
    """Where the source at ``rel`` (relative to SRC) goes: same relative path under DST, codec's extension."""
    return (Path(dst) / rel).with_suffix(CODECS[codec].extension)


def temp_path(path: Path) -> Path:
    """The hidden name an output is written under until complete: never mistaken for output, nor indexed."""
    return path.with_name(f".{path.name}.part")


def _decoded(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """Decoded frames, skipping empty packets and the corrupt (cut-off) last packet of a truncated file."""
    for packet in container.demux(stream):
        if packet.size and not packet.is_corrupt:
            yield from stream.codec_context.decode(packet)
    yield from stream.codec_context.decode(None)


def _timed(frames: Iterable[av.VideoFrame], step: Fraction) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    """(presentation time in seconds, frame); a frame without a timestamp comes ``step`` after the previous one."""
    time = -step
    for frame in frames:
        time = Fraction(frame.pts) * frame.time_base if frame.pts is not None and frame.time_base else time + step
        yield time, frame


def convert_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    short_side: int = 256,
    codec: str = "vp9",
    fps: float | None = None,
    crf: int | None = None,
    threads: int = 1,
) -> int:
    """Transcode one video (see the module docstring) to ``dst``, atomically; returns the frames written."""
    spec, dst, src = CODECS[codec], Path(dst), os.fspath(src)
    if storage.stat(src).size == 0:
        raise ValueError("empty file")
    with storage.open_file(src) as file, _opened(file) as container:
        streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not streams:
            raise ValueError("not a video")
        source = streams[0]
        source.codec_context.thread_count = threads
        source_rate = Fraction(source.average_rate or source.guessed_rate or 0)
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(max(1, round(source_rate or 25)))
        step = 1 / source_rate if source_rate else 1 / rate
        tmp = temp_path(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            written = _encode(
                _timed(_decoded(container, source), step), tmp, spec, short_side, rate, step, crf, threads
            )
            if written == 0:
                raise ValueError("corrupt: no frame decodes")
            os.replace(tmp, dst)
            return written
        finally:
            tmp.unlink(missing_ok=True)


def _opened(file: BinaryIO) -> av.container.InputContainer:
    """The container of an opened source video; ValueError with the reason it is not one (probe.open_video)."""
    container = open_video(file)
    if isinstance(container, str):
        raise ValueError(container)
    return container


def _encode(
    timed: Iterator[tuple[Fraction, av.VideoFrame]],
    path: Path,
    spec: Codec,
    short_side: int,
    rate: Fraction,
    step: Fraction,
    crf: int | None,
    threads: int,
) -> int:
    """Resize and encode the frames at a constant ``rate``; the output opens at the first frame, which sets the size.
    A frame without a duration lasts ``step``."""

    def duration(frame: av.VideoFrame) -> Fraction:
        return Fraction(frame.duration) * frame.time_base if frame.duration and frame.time_base else step

    out, stream, size, count = None, None, None, 0
    try:
        for k, frame in constant_rate(timed, rate, duration):
            if out is None:
                size = resize_shape(frame.width, frame.height, short_side)
                out = av.open(str(path), "w", format=spec.container, options=dict(spec.container_options))
                stream = out.add_stream(spec.encoder, rate=rate)
                stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
                stream.codec_context.thread_count = threads
                quality = str(spec.default_crf if crf is None else crf)
                # a keyframe every 2 s at most, so that a clip read at a random time decodes few frames before it
                stream.options = {**dict(spec.options), "crf": quality, "g": str(2 * max(1, round(rate)))}
            shrink = size[0] * size[1] < frame.width * frame.height
            image = frame.reformat(*size, format="yuv420p", interpolation="AREA" if shrink else "BICUBIC")
            image.pts, image.time_base = k, 1 / rate
            out.mux(stream.encode(image))
            count += 1
        if out is not None:
            out.mux(stream.encode(None))
    finally:
        if out is not None:
            out.close()
    return count


def _sources(src: Path, dst: Path) -> list[str]:
    """Relative POSIX paths of the visible regular files under ``src``, sorted; ``dst`` is left out if inside."""
    found = []
    for folder, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and Path(folder, d).resolve() != dst.resolve())
        found += [Path(folder, f).relative_to(src).as_posix() for f in files if not f.startswith(".")]
    return sorted(found)


def _job(args: tuple) -> str | None:
    """Convert one file; the reason of a failure, or None. Never raises (a worker must survive a bad file)."""
    src, dst, short_side, codec, fps, crf, threads = args
    try:
        convert_video(src, dst, short_side=short_side, codec=codec, fps=fps, crf=crf, threads=threads)
    except av.FFmpegError as exc:
        return f"corrupt: {exc.strerror or exc}"
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def prepare_dataset(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    short_side: int = 256,
    codec: str = "vp9",
    fps: float | None = None,
    workers: int | None = None,
    crf: int | None = None,
    progress: bool = True,
) -> dict:
    """Transcode every file under ``src`` into ``dst`` (see the module docstring); outputs that exist are skipped.
    Returns {"converted": n, "skipped": n, "failed": [(path relative to src, reason), ...]}."""
    src, dst = Path(src).absolute(), Path(dst).absolute()
    if not src.is_dir():
        raise FileNotFoundError(f"source folder not found: {src}")
    if codec not in CODECS:
        raise ValueError(f"unknown codec '{codec}'; choose one of {', '.join(CODECS)}")
    resize_shape(2, 2, short_side)  # checks short_side
    failed: list[tuple[str, str]] = []
    skipped = 0
    todo: dict[Path, str] = {}  # output -> source
    for rel in _sources(src, dst):
        out = output_path(dst, rel, codec)
        if out in todo:
            failed.append((rel, f"output {out.relative_to(dst).as_posix()} is also the output of {todo[out]}"))
        elif out.exists():
            skipped += 1
        else:
            todo[out] = rel
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = [(str(src / rel), str(out), short_side, codec, fps, crf, threads) for out, rel in todo.items()]
    bar = tqdm(total=len(jobs), desc="converting videos", unit="video", disable=not progress, dynamic_ncols=True)
    with bar:
        if workers == 1:
            reasons = list(_counted(map(_job, jobs), bar))
        else:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                reasons = list(_counted(pool.map(_job, jobs), bar))
    errors = [(rel, reason) for rel, reason in zip(todo.values(), reasons, strict=True) if reason]
    return {"converted": len(jobs) - len(errors), "skipped": skipped, "failed": sorted(failed + errors)}


def _counted(items: Iterable[T], bar: tqdm) -> Iterator[T]:
    for item in items:
        bar.update()
        yield item


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cvrl_pl.data.prepare",
        description="Transcode a video dataset: shorter side resized, constant frame rate, VP9 or H.264. Resumable.",
    )
    parser.add_argument("src", help="source dataset folder (read recursively)")
    parser.add_argument("dst", help="output folder (same relative paths)")
    parser.add_argument("--short-side", type=int, default=256, help="shorter side in pixels, even (default: 256)")
    parser.add_argument("--codec", choices=sorted(CODECS), default="vp9", help="output codec (default: vp9)")
    parser.add_argument("--fps", type=float, default=None, help="constant output rate (default: the source's, rounded)")
    parser.add_argument("--workers", type=int, default=None, help="parallel conversions (default: CPU count)")
    parser.add_argument("--crf", type=int, default=None, help="quality, lower is better (default: vp9 32, h264 23)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        result = prepare_dataset(
            args.src,
            args.dst,
            short_side=args.short_side,
            codec=args.codec,
            fps=args.fps,
            workers=args.workers,
            crf=args.crf,
            progress=not args.quiet,
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for rel, reason in result["failed"]:
        print(f"failed: {rel}: {reason}")
    print(
        f"converted {result['converted']}, skipped {result['skipped']} (already done), failed {len(result['failed'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
