"""What indexing costs per hour of video, measured side by side in one run; prints one JSON line.

Indexes the same generated videos twice from scratch, with ``verify="first"`` (count packets, decode the first
frame: the default) and ``verify="full"`` (decode every frame: finds damage anywhere in a file), and reports the
wall time of each per hour of video on this machine, with the ratio.

    python benchmarks/bench_index.py --videos 16 --frames 250 --width 340 --height 256 --workers 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_videos import ENCODERS, make_videos, video_folder  # benchmarks/bench_videos.py

from cvrl_pl.data.index import build_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=250, help="frames per video (25 fps)")
    parser.add_argument("--width", type=int, default=340)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="vp9")
    parser.add_argument("--workers", type=int, default=2, help="probing processes")
    parser.add_argument("--video-dir", type=Path, help="keep (and reuse) the generated videos here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    with video_folder(args.video_dir) as folder:
        make_videos(Path(folder), args.videos, args.frames, size=(args.width, args.height), codec=args.codec)
        hours = args.videos * args.frames / 25 / 3600
        figures = {"videos": f"{args.videos} x {args.frames} frames, {args.width}x{args.height} {args.codec}"}
        for verify in ("first", "full"):
            start = time.perf_counter()
            index = build_index(Path(folder), workers=args.workers, progress=False, verify=verify)
            assert len(index.videos) == args.videos, index.report()
            figures[f"{verify}_s_per_video_hour"] = round((time.perf_counter() - start) / hours, 1)
        figures["full_vs_first"] = round(figures["full_s_per_video_hour"] / figures["first_s_per_video_hour"], 2)
    line = json.dumps(figures)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")


if __name__ == "__main__":
    main()
