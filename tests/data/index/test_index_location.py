"""The index lives where ``data.index`` says, the dataset root by default: a read-only or remote root keeps its
index elsewhere, and building, reusing and reading clips then writes nothing under the root."""

from __future__ import annotations

import os

import numpy as np

from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.loader import video_table
from dali_pipelines.sources import ClipSource
from tests.helpers.index import put


def _snapshot(root) -> dict[str, tuple[int, int]]:
    """Every entry under ``root`` (folders included) with its size and mtime."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.stat(os.path.join(folder, name))
            found[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return found


def test_an_index_kept_elsewhere_writes_nothing_under_the_root(clips, tmp_path, probe_counter):
    root = tmp_path / "dataset"
    put(clips, "vp9_20", root / "a" / "1.webm")
    put(clips, "vp9_37", root / "b" / "2.webm")
    before = _snapshot(root)
    out = tmp_path / "elsewhere" / "index"

    index = load_or_build_index(root, index_path=out, workers=1, progress=False)
    assert (index.folder, index.classes, len(index.videos)) == (str(out), ["a", "b"], 2)
    probe_counter.clear()
    again = load_or_build_index(root, index_path=out, workers=1, progress=False)  # reused: nothing probed
    assert probe_counter == [] and [v.path for v in again.videos] == ["a/1.webm", "b/2.webm"]
    source = ClipSource(video_table(again), num_frames=4, stride=2, batch_size=1, decoders="dali_cpu")
    encoded = source.video(1, np.arange(4))[0]
    assert encoded.dtype == np.uint8 and encoded.size > 0  # the clip's packets, read through the storage layer

    assert _snapshot(root) == before  # no index, no partial build, no lock beside the videos
    assert not (root / ".cvrl_index").exists()
