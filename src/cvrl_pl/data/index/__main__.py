"""``python -m cvrl_pl.data.index ROOT [--layout L] [--csv FILE | --annotations A [--split N] [--subset S]]
[--verify first|full] [--workers N] [--out INDEX] [--gpu-capability X.Y] [--json] [--excluded]``: index a dataset by
hand, print the report (counts, codecs and formats, which decoder takes how many videos, frames, the excluded files
by reason, the first 50 of each by name); ``--excluded`` lists every excluded file with its reason instead of the
report; ``--json`` adds the figures as one JSON object on the last line of stdout. A shard set in parts, on many
machines: ``--part K/N`` on each (K = 0..N-1, a Slurm array's task id), then ``--merge N`` once."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from cvrl_pl.data.decoding import device_capability
from cvrl_pl.data.index.build import load_or_build_index
from cvrl_pl.data.index.parts import merge_parts
from cvrl_pl.data.index.probe import VERIFY_LEVELS
from cvrl_pl.data.index.records import DEFAULT_INDEX_NAME
from cvrl_pl.data.layouts import LAYOUT_CHOICES
from cvrl_pl.errors import DatasetError, DatasetKeyError
from dali_pipelines.decoders import parse_capability


def part_arg(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit()):
        raise argparse.ArgumentTypeError(f"--part takes K/N (part K of N, K from 0), got {text!r}")
    return int(k), int(n)


def capability_arg(text: str) -> tuple[int, int]:
    try:
        return parse_capability(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cvrl_pl.data.index",
        description="Index a video dataset: probe every file, count frames, report unusable files, save the index.",
    )
    parser.add_argument("root", help="dataset root")
    parser.add_argument("--csv", help="CSV listing the videos: 'path,label' rows, or a Kinetics annotation file")
    parser.add_argument("--layout", default="auto", choices=LAYOUT_CHOICES, help="dataset layout (default: auto)")
    parser.add_argument(
        "--annotations",
        help="folder of the official lists (ucf101: ucfTrainTestlist; hmdb51: testTrainMulti_7030_splits)",
    )
    parser.add_argument("--split", type=int, default=1, help="official split of ucf101/hmdb51 (1-3; default: 1)")
    parser.add_argument("--subset", help="subset of the split: train or test (ssv2: train or validation; gym99: val)")
    parser.add_argument("--min-frames", type=int, default=1, help="exclude videos with fewer frames (default: 1)")
    parser.add_argument(
        "--verify",
        default="first",
        choices=VERIFY_LEVELS,
        help="decode each file's first frame (default) or every frame (finds damage anywhere; slower)",
    )
    parser.add_argument("--workers", type=int, default=None, help="probing processes (default: CPU count)")
    parser.add_argument("--out", help=f"index folder to write or reuse (default: ROOT/{DEFAULT_INDEX_NAME})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--reindex",
        action="store_true",
        help="list and stat every file again to check a saved index (default: only if the root's top-level "
        "entries, a folder of videos or the list files changed)",
    )
    parser.add_argument(
        "--gpu-capability",
        type=capability_arg,
        help="route the videos to decoders for a GPU of this compute capability, e.g. 9.0 for an H100/H200 "
        "(default: this machine's GPU, or the CPU without one)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line of stdout")
    parser.add_argument("--excluded", action="store_true", help="print every excluded file (PATH<tab>REASON)")
    parser.add_argument(
        "--part", type=part_arg, help="index only part K of N of a shard set (K from 0; e.g. $SLURM_ARRAY_TASK_ID/N)"
    )
    parser.add_argument("--merge", type=int, metavar="N", help="put the N parts built with --part together")
    args = parser.parse_args(argv)
    try:
        if args.merge:
            index = merge_parts(
                args.root,
                args.merge,
                index_path=args.out,
                layout=args.layout,
                verify=args.verify,
                min_frames=args.min_frames,
                note=lambda msg: print(msg, file=sys.stderr),
            )
        else:
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
                note=lambda msg: print(msg, file=sys.stderr),
                reindex="always" if args.reindex else "auto",
                part=args.part,
            )
    except DatasetKeyError as exc:
        print(f"error: {exc.named('--' + exc.key)}", file=sys.stderr)
        return 2
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    capability = args.gpu_capability or device_capability(0 if torch.cuda.is_available() else None)  # this machine
    if args.excluded:
        print("\n".join(f"{path}\t{reason}" for path, reason in index.excluded))
    else:
        print(index.report(capability))
    out = index.folder
    print(f"index: {out}")
    if args.json:
        print(json.dumps({**index.summary(capability), "index": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
