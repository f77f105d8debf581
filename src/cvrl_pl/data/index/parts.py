"""An index of a shard set built in parts, on many machines at once (a Slurm array: one part per task), then put
together: part k of n indexes a contiguous slice of the sorted shards (build.load_or_build_index(part=(k, n)), kept
at ``<index>.part-k-of-n``, resumable like any build), and ``merge_parts`` writes their columns end to end, in
chunks, into the whole index, which a training start then reuses."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import numpy as np

from cvrl_pl.data.index.build import (
    check_args,
    check_part,
    default_index_path,
    finish_index,
    part_path,
    probing_figures,
    same_source,
)
from cvrl_pl.data.index.columns import Ragged, Runs
from cvrl_pl.data.index.listing import listing_signature
from cvrl_pl.data.index.records import CATEGORIES, CHUNK, SCHEMA, index_description
from cvrl_pl.data.index.store import IndexWriter
from cvrl_pl.data.index.video_index import VideoIndex
from cvrl_pl.data.index.views import VideoColumns
from cvrl_pl.data.layouts import resolve_layout
from cvrl_pl.data.layouts.files import ListSpec
from cvrl_pl.errors import DatasetError


def _load_part(path: str, k: int, n: int, *, root: str, layout: str, verify: str, min_frames: int) -> VideoIndex:
    """The finished index of part k of n at ``path``; DatasetError naming what is missing or different."""
    try:
        index = VideoIndex.load(path)
    except DatasetError as exc:
        raise DatasetError(f"part {k} of {n} is not built ({exc}): run the index command with --part {k}/{n}") from exc
    if not same_source(index, root=root, layout=layout, lists=ListSpec(), verify=verify, part=(k, n)):
        raise DatasetError(f"{path} is not part {k} of {n} of {root} ({layout}, verify {verify})")
    if index.min_frames != min_frames:
        raise DatasetError(f"{path} was built with min_frames {index.min_frames}, not {min_frames}")
    return index


def _columns(videos: VideoColumns, a: int, b: int) -> dict:
    """Rows [a, b) of every column but the path's, as IndexWriter.add_columns takes them."""
    out = {}
    for name in SCHEMA["videos"]:
        if name in ("dir", "name"):
            continue
        column = videos.columns[name]
        if isinstance(column, Ragged):
            lo, hi = column.bounds(a)[0], int(column.ends[b - 1])
            out[name] = Runs(np.asarray(column.values[lo:hi]), np.diff(np.asarray(column.ends[a:b]), prepend=lo))
        elif name in CATEGORIES:
            out[name] = np.asarray(videos.vocab[name], object)[np.asarray(column[a:b])]
        else:
            out[name] = np.asarray(column[a:b])
    return out


def merge_parts(
    root: str,
    parts: int,
    *,
    index_path: str | None = None,
    layout: str = "auto",
    verify: str = "first",
    min_frames: int = 1,
    note: Callable[[str], None] | None = None,
) -> VideoIndex:
    """The whole index of the shard set at ``root`` from its ``parts`` parts (each built, same options), at
    ``index_path`` (default: where a start looks for it), with the shards' listing as it is now."""
    note = note or (lambda _: None)
    root, lists = check_args(root, ListSpec(), min_frames)
    layout = resolve_layout(root, lists, layout, None)
    check_part((0, parts), layout)
    final = os.path.abspath(index_path) if index_path else default_index_path(root, layout, lists)
    options = {"root": root, "layout": layout, "verify": verify, "min_frames": min_frames}
    loaded = [_load_part(part_path(final, (k, parts)), k, parts, **options) for k in range(parts)]
    folder = f"{final}.partial-{socket.gethostname()}-{os.getpid()}"
    writer = IndexWriter(folder)
    for index in loaded:
        videos = index.videos
        for a in range(0, len(videos), CHUNK):
            b = min(len(videos), a + CHUNK)
            writer.add_columns([videos.paths[i] for i in range(a, b)], _columns(videos, a, b))
            writer.commit()
        writer.add([], [(path, reason, index.excluded_meta.get(path, {})) for path, reason in index.excluded])
    listing = listing_signature(root, lists, [], shards=True)
    probed = [index.probing or probing_figures(0, 0, 0) for index in loaded]
    probing = probing_figures(*(sum(p[key] for p in probed) for key in ("videos", "bytes_read", "bytes_stored")))
    description = index_description(
        root, [], layout=layout, min_frames=min_frames, verify=verify, **vars(lists), listing=listing, probing=probing
    )
    merged = finish_index(writer.finish(description), final)
    note(
        f"video index: {parts} parts merged into {final}: {len(merged.videos)} videos, {len(merged.excluded)} excluded"
    )
    return merged
