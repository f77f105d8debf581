"""What a start costs on a dataset of millions of files with a saved index, beside the listing every start did
before; one JSON line.

A root of 400 class folders holding ``--files`` empty files (named as synthetic_index.py's videos); for each
size in ``--sizes`` a synthetic index of that many videos over those folders (synthetic_index.synthetic), recording the
root's listing as it is. Each figure comes from a fresh process that has imported cvrl_pl; ``*_added_mb`` is what
the step added to its peak resident memory:

- start_s, start_added_mb: ``load_or_build_index(root, reindex="auto")``: the saved index reused, nothing listed
  per file (the root's names and each folder's time compared: data/index/listing.py);
- listing_s, listing_added_mb (once, at ``--files``): what every start did before data.reindex: list the root and
  stat every file (layouts.list_candidates), before comparing them with the index;
- listing_over_start: the ratio of the two times at the size equal to ``--files``.

    python benchmarks/bench_start.py --files 1000000 --sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic_index import CHUNK, CLASSES, description, memory, rounded, synthetic

from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.index.listing import folders_of, listing_signature
from cvrl_pl.data.index.store import IndexWriter
from cvrl_pl.data.layouts import list_candidates
from cvrl_pl.data.layouts.files import ListSpec

NO_LISTS = ListSpec(None, None, 1, None)


def make_root(root: Path, files: int) -> float:
    """``files`` empty files over the 400 class folders, named as the synthetic index names videos; seconds."""
    start = time.perf_counter()
    for k in range(CLASSES):
        (root / f"class_{k:03d}").mkdir(parents=True, exist_ok=True)
    for first in range(0, files, CHUNK):
        for path in synthetic(first, min(files, first + CHUNK))[0]:
            os.close(os.open(root / path, os.O_CREAT | os.O_WRONLY, 0o644))
    return time.perf_counter() - start


def build_index(root: Path, n: int) -> Path:
    """A synthetic index of ``n`` videos of ``root`` at ``root``/.cvrl_index, with the root's listing as it is."""
    folder = root / ".cvrl_index"
    shutil.rmtree(folder, ignore_errors=True)
    writer = IndexWriter(folder)
    for first in range(0, n, CHUNK):
        writer.add_columns(*synthetic(first, min(n, first + CHUNK)))
        writer.commit()
    folders = folders_of(f"class_{k:03d}/" for k in range(CLASSES))
    writer.finish({**description(str(root)), "listing": listing_signature(str(root), NO_LISTS, folders)})
    return folder


def step(kind: str, root: str) -> None:
    """Child process: one start (``start``) or the old per-file listing (``listing``); prints seconds, memory."""
    before = memory()["VmRSS"]
    said: list[str] = []
    start = time.perf_counter()
    if kind == "start":
        index = load_or_build_index(root, layout="folder", progress=False, note=said.append)
        count = len(index.videos)
    else:
        count = len(list_candidates(root, "folder", NO_LISTS, os.path.join(root, ".cvrl_index"))[1])
    seconds = time.perf_counter() - start
    print(json.dumps({"s": seconds, "added_mb": memory()["VmHWM"] - before, "count": count, "note": said}))


def measure(kind: str, root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--step", kind, str(root)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="empty files in the root (default: 1M)")
    parser.add_argument("--sizes", default="1000000,10000000", help="index sizes, comma separated")
    parser.add_argument("--dir", type=Path, help="where to build (default: a temporary folder, removed)")
    parser.add_argument("--step", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return step(*args.step)
    result: dict = {"files": args.files, "sizes": {}}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "data"
        result["make_root_s"] = make_root(root, args.files)
        listing = measure("listing", root)
        assert listing["count"] == args.files, listing
        result["listing_s"], result["listing_added_mb"] = listing["s"], listing["added_mb"]
        for n in (int(s) for s in args.sizes.split(",") if s):
            build_index(root, n)
            start = measure("start", root)
            assert start["count"] == n and "reused without listing" in start["note"][0], start
            result["sizes"][str(n)] = {"start_s": start["s"], "start_added_mb": start["added_mb"]}
            if n == args.files:
                result["listing_over_start"] = listing["s"] / start["s"]
            print(f"{n}: {json.dumps(result['sizes'][str(n)])}", file=sys.stderr)
    print(json.dumps(rounded(result)))


if __name__ == "__main__":
    main()
