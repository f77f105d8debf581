"""The built-in demo dataset: short videos of one moving object, labelled by what moves and how it moves.

A class is a (shape, motion) pair. Every shape comes with two motions: ``slide`` (a straight, bouncing translation
at a fixed orientation) and ``spin`` (a turn about the object's own centre while it drifts slowly), so one frame
cannot tell the two classes of a shape apart. What stays the same across the clips of one video (the object's
shape and its way of moving) carries the class. Colours carry nothing: every object is the same off-white on the
same faint, dark gradient, so neither colour nor background can identify a class or a video. What else differs
between the videos of a class (size, speed, heading, orientation, position) does not survive the pretraining
crops well, which leaves shape and motion as what two clips of a video share.

``python -m cvrl_pl.data.synthetic --out DIR`` writes DIR/train/<class>/*.webm and DIR/val/<class>/*.webm (VP9,
decodable by DALI's CPU decoder), deterministic given ``--seed``.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

SHAPES = ("square", "ellipse", "triangle", "cross")
MOTIONS = ("slide", "spin")


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes of the generated dataset."""

    train_per_class: int = 40
    val_per_class: int = 12
    num_frames: int = 48
    size: int = 64
    fps: int = 25
    seed: int = 0


def class_names() -> list[str]:
    return [f"{shape}_{motion}" for shape in SHAPES for motion in MOTIONS]


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in [0, 1]) as RGB."""
    k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth, dark, desaturated background with a faint linear gradient, (size, size, 3) in [0, 1].

    The dataset draws it once: a background that differed between videos would identify them (a pool of four
    was enough for contrastive pretraining to learn the backgrounds instead of the objects).
    """
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    colour = hsv_to_rgb(rng.uniform(), rng.uniform(0.1, 0.4), rng.uniform(0.2, 0.45))
    return np.clip(colour + 0.1 * ramp[..., None], 0, 1)


def shape_mask(shape: str, size: int, radius: float, centre: tuple[float, float], *, angle: float = 0.0) -> np.ndarray:
    """A soft-edged (size, size) mask of ``shape`` centred at ``centre`` (x, y), turned by ``angle`` radians."""
    cx, cy = centre
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = c * (xx - cx) + s * (yy - cy), -s * (xx - cx) + c * (yy - cy)
    if shape == "square":
        d = np.maximum(np.abs(dx), np.abs(dy)) - radius * 0.85
    elif shape == "ellipse":
        d = (np.hypot(dx / 1.15, dy / 0.6) - radius) * 0.8
    elif shape == "triangle":
        d = np.maximum(np.abs(dx) * 0.866 + dy * 0.5, -dy) - radius * 0.5
    else:  # cross
        arm = radius * 0.35
        d = np.minimum(
            np.maximum(np.abs(dx) - radius, np.abs(dy) - arm), np.maximum(np.abs(dx) - arm, np.abs(dy) - radius)
        )
    return np.clip(0.5 - d, 0, 1)


def trajectory(
    motion: str, rng: np.random.Generator, num_frames: int, *, size: int, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Object centres (num_frames, 2) and angles (num_frames,).

    ``slide``: a straight, bouncing translation at a fixed, random orientation. ``spin``: a turn about the
    object's own centre while it drifts slowly.
    """
    t = np.arange(num_frames)
    # Objects stay in the central part of the frame, so that most random crops still hold them.
    lo, hi = max(radius + 1, 0.25 * size), min(size - radius - 1, 0.75 * size)
    if motion == "slide":
        speed, heading = rng.uniform(1.2, 2.2), rng.uniform(0, 2 * np.pi)
        angle = np.full(num_frames, rng.uniform(0, 2 * np.pi))
    else:
        speed, heading = rng.uniform(0.1, 0.3), rng.uniform(0, 2 * np.pi)
        angle = rng.uniform(0, 2 * np.pi) + rng.choice([-1, 1]) * rng.uniform(0.15, 0.3) * t
    raw = rng.uniform(lo, hi, size=2) + speed * t[:, None] * np.array([np.cos(heading), np.sin(heading)])
    span = hi - lo
    folded = np.mod(raw - lo, 2 * span)
    return lo + np.where(folded > span, 2 * span - folded, folded), angle


def render_video(label: int, seed: int, spec: SyntheticSpec) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of one video of class ``label``; (label, seed) fix it completely."""
    shape, motion = SHAPES[label // len(MOTIONS)], MOTIONS[label % len(MOTIONS)]
    rng = np.random.default_rng([spec.seed, label, seed])
    size = spec.size
    radius = rng.uniform(0.15, 0.21) * size
    back = background(np.random.default_rng(99), size)  # the same for every video
    colour = np.array([0.95, 0.95, 0.9])
    frames = np.empty((spec.num_frames, size, size, 3), np.uint8)
    centres, angles = trajectory(motion, rng, spec.num_frames, size=size, radius=radius)
    for k, (centre, angle) in enumerate(zip(centres, angles, strict=True)):
        alpha = shape_mask(shape, size, radius, tuple(centre), angle=angle)[..., None]
        frames[k] = np.round(255 * (alpha * colour + (1 - alpha) * back)).astype(np.uint8)
    return frames


def _write(job: tuple[str, int, int, SyntheticSpec]) -> None:
    import av

    path, label, seed, spec = job
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path).with_name("." + Path(path).name + ".part")
    with av.open(str(tmp), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=spec.fps)
        stream.width = stream.height = spec.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "b:v": "0", "deadline": "realtime", "cpu-used": "8"}
        for image in render_video(label, seed, spec):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    tmp.replace(path)  # complete files only: an interrupted run is resumed, not left broken


def generate(
    out: str | Path, spec: SyntheticSpec = SyntheticSpec(), workers: int | None = None, progress: bool = True
) -> Path:
    """Write the dataset under ``out`` (train/ and val/, a class folder each); existing videos are kept."""
    out = Path(out)
    jobs = []
    for split, count, offset in (("train", spec.train_per_class, 0), ("val", spec.val_per_class, 10**6)):
        for label, name in enumerate(class_names()):
            for i in range(count):
                path = out / split / name / f"{name}_{i:04d}.webm"
                if not path.exists():
                    jobs.append((str(path), label, offset + i, spec))
    with ProcessPoolExecutor(workers) as pool:
        for _ in tqdm(
            pool.map(_write, jobs, chunksize=8),
            total=len(jobs),
            desc="generating videos",
            disable=not progress or not jobs,
        ):
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvrl_pl.data.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=SyntheticSpec.train_per_class)
    parser.add_argument("--val-per-class", type=int, default=SyntheticSpec.val_per_class)
    parser.add_argument("--frames", type=int, default=SyntheticSpec.num_frames)
    parser.add_argument("--size", type=int, default=SyntheticSpec.size)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    spec = SyntheticSpec(args.train_per_class, args.val_per_class, args.frames, args.size, seed=args.seed)
    out = generate(args.out, spec, args.workers)
    print(f"wrote {len(class_names())} classes to {out}/train and {out}/val")
    return 0


if __name__ == "__main__":
    sys.exit(main())
