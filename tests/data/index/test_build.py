"""Building an index: a missing root or no usable video is a named error; a saved index is reused."""

from __future__ import annotations

import os
import shutil

import pytest

from cvrl_pl.data.index import DatasetError, VideoIndex, build_index, load_or_build_index
from tests.helpers.index import put


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match=f"dataset root not found: {tmp_path / 'nowhere'}"):
        build_index(tmp_path / "nowhere", progress=False)


def test_no_usable_video_names_root_and_files(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.mp4").write_bytes(b"")
    (root / "b.txt").write_text("text\n")
    with pytest.raises(DatasetError) as err:
        build_index(root, workers=1, progress=False)
    message = str(err.value)
    assert f"no usable videos in dataset root {root}" in message
    assert "  a.mp4: empty file" in message and "  b.txt: not a video" in message


def test_reuse_probes_only_new_or_changed_files(clips, tmp_path, probe_counter):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "1.webm")
    put(clips, "h264_37", root / "a" / "2.mp4")
    put(clips, "vp9_20", root / "b" / "3.webm")
    (root / "b" / "4.txt").write_text("no\n")
    saved = root / ".cvrl_index"

    first = load_or_build_index(root, workers=1, progress=False)
    assert sorted(probe_counter) == ["1.webm", "2.mp4", "3.webm", "4.txt"]
    assert VideoIndex.load(saved).to_dict() == first.to_dict()
    stamp = saved.stat().st_mtime_ns

    probe_counter.clear()
    again = load_or_build_index(root, workers=1, progress=False)
    assert probe_counter == []  # nothing probed, nothing written
    assert saved.stat().st_mtime_ns == stamp
    assert again.to_dict() == first.to_dict()

    shutil.copy(clips["h264_12"], root / "a" / "2.mp4")  # replaced: new size and mtime
    put(clips, "vp8_15", root / "b" / "5.webm")  # added
    os.remove(root / "b" / "3.webm")  # removed
    changed = load_or_build_index(root, workers=1, progress=False)
    assert sorted(probe_counter) == ["2.mp4", "5.webm"]
    assert {v.path: v.num_frames for v in changed.videos} == {"a/1.webm": 37, "a/2.mp4": 12, "b/5.webm": 15}
    assert changed.excluded == [("b/4.txt", "not a video")]
    assert VideoIndex.load(saved).to_dict() == changed.to_dict()

    probe_counter.clear()
    os.utime(root / "a" / "1.webm", ns=(1, 1))  # touched: same size, other mtime
    stricter = load_or_build_index(root, workers=1, progress=False, min_frames=13)
    assert probe_counter == ["1.webm"]
    assert {v.path: v.num_frames for v in stricter.videos} == {"a/1.webm": 37, "b/5.webm": 15}
    assert ("a/2.mp4", "too short: 12 frames (< 13)") in stricter.excluded

    probe_counter.clear()
    relaxed = load_or_build_index(root, workers=1, progress=False, min_frames=1)  # known counts: no probing
    assert probe_counter == []
    assert len(relaxed.videos) == 3


def test_reuse_ignores_an_index_of_another_layout(clips, tmp_path, probe_counter):
    root = tmp_path / "data"
    put(clips, "vp9_20", root / "a" / "1.webm")
    out = tmp_path / "index"
    assert load_or_build_index(root, index_path=out, workers=1, progress=False).classes == ["a"]
    probe_counter.clear()
    index = load_or_build_index(root, index_path=out, layout="unlabelled", workers=1, progress=False)
    assert (index.layout, index.classes, index.videos[0].label) == ("unlabelled", [], -1)
    assert probe_counter == ["1.webm"]
    assert VideoIndex.load(out).layout == "unlabelled"


def test_a_full_verification_is_not_satisfied_by_first_frame_probes(clips, tmp_path, probe_counter):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "1.webm")
    put(clips, "vp9_20", root / "a" / "2.webm")
    load_or_build_index(root, workers=1, progress=False)
    assert probe_counter == ["1.webm", "2.webm"]
    full = load_or_build_index(root, workers=1, progress=False, verify="full")  # probes again, decoding all
    assert probe_counter == ["1.webm", "2.webm"] * 2 and full.verify == "full"
    again = load_or_build_index(root, workers=1, progress=False)  # full probes serve a first-frame request
    assert probe_counter == ["1.webm", "2.webm"] * 2 and [v.path for v in again.videos] == ["a/1.webm", "a/2.webm"]
    assert VideoIndex.load(root / ".cvrl_index").verify == "full"  # as it was: nothing listed or rewritten
