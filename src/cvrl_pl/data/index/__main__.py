"""``python -m cvrl_pl.data.index ROOT [--layout L] [--csv FILE | --annotations A [--split N] [--subset S]]
[--verify first|full] [--workers N] [--out INDEX]``: index a dataset by hand, print the report (counts, codecs,
frames, every excluded file with its reason)."""

from __future__ import annotations

import argparse
import os
import sys

from cvrl_pl.data.index.build import default_index_path, load_or_build_index
from cvrl_pl.data.index.probe import VERIFY_LEVELS
from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME
from cvrl_pl.data.layouts import LAYOUT_CHOICES
from cvrl_pl.errors import DatasetError, DatasetKeyError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cvrl_pl.data.index",
        description="Index a video dataset: probe every file, count frames, report unusable files, save JSON.",
    )
    parser.add_argument("root", help="dataset root")
    parser.add_argument("--csv", help="CSV listing the videos: 'path,label' rows, or a Kinetics annotation file")
    parser.add_argument("--layout", default="auto", choices=LAYOUT_CHOICES, help="dataset layout (default: auto)")
    parser.add_argument(
        "--annotations",
        help="folder of the official lists (ucf101: ucfTrainTestlist; hmdb51: testTrainMulti_7030_splits)",
    )
    parser.add_argument("--split", type=int, default=1, help="official split of ucf101/hmdb51 (1-3; default: 1)")
    parser.add_argument("--subset", help="subset of the split: train or test (ssv2: train or validation)")
    parser.add_argument("--min-frames", type=int, default=1, help="exclude videos with fewer frames (default: 1)")
    parser.add_argument(
        "--verify",
        default="first",
        choices=VERIFY_LEVELS,
        help="decode each file's first frame (default) or every frame (finds damage anywhere; slower)",
    )
    parser.add_argument("--workers", type=int, default=None, help="probing processes (default: CPU count)")
    parser.add_argument("--out", help=f"index file to write or reuse (default: ROOT/{DEFAULT_INDEX_NAME})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        index = load_or_build_index(
            args.root,
            index_path=args.out,
            csv=args.csv,
            annotations=args.annotations,
            split=args.split,
            subset=args.subset,
            layout=args.layout,
            workers=args.workers,
            progress=not args.quiet,
            min_frames=args.min_frames,
            verify=args.verify,
            log=lambda msg: print(msg, file=sys.stderr),
        )
    except DatasetKeyError as exc:
        print(f"error: {exc.named('--' + exc.key)}", file=sys.stderr)
        return 2
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(index.report())
    out = os.path.abspath(args.out) if args.out else default_index_path(args.root, index.layout, index.lists())
    print(f"index: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
