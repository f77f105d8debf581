"""Probing: frame counts of every codec, bad files excluded with their reason, truncated and odd files."""

from __future__ import annotations

import av
import numpy as np
import pytest

from cvrl_pl.data import index as index_mod
from cvrl_pl.data.index import build_index, probe_video
from tests.helpers.damage import damage_payload
from tests.helpers.index import decodable_frames, put, write_faststart_h264
from tests.helpers.videos import write_vfr, write_video


def test_process_pool_gives_the_same_index(clips, tmp_path):
    root = tmp_path / "data"
    for k, name in enumerate(["vp9_37", "h264_37", "vp9_20", "h264_12", "vp8_15"]):
        put(clips, name, root / f"c{k % 2}" / f"{k}{clips[name].suffix}")
    (root / "c0" / "junk.txt").write_text("not a video\n")

    serial = build_index(root, workers=1, progress=False)
    pooled = build_index(root, workers=2, progress=False)

    assert pooled.to_dict() == serial.to_dict()
    assert [v.num_frames for v in pooled.videos] == [37, 20, 15, 37, 12]


def test_bad_files_are_excluded_with_their_reason(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "good.webm")
    put(clips, "vp9_5", root / "a" / "short.webm")
    (root / "a" / "random.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "a" / "empty.mp4").write_bytes(b"")
    (root / "b").mkdir()
    (root / "b" / "notes.txt").write_text("these are not frames\n")
    data = clips["h264_40"].read_bytes()  # moov atom at the end: a truncated copy has no index
    (root / "b" / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])

    index = build_index(root, workers=1, progress=False, min_frames=8)

    assert [v.path for v in index.videos] == ["a/good.webm"]
    assert dict(index.excluded) == {
        "a/empty.mp4": "empty file",
        "a/random.mp4": "corrupt: moov atom not found",  # FFmpeg guesses mp4 from the name, then fails
        "a/short.webm": "too short: 5 frames (< 8)",
        "b/cut.mp4": "corrupt: moov atom not found",
        "b/notes.txt": "not a video",
    }
    report = index.report()
    assert "1 usable videos, 5 excluded" in report
    assert "  b/notes.txt: not a video" in report
    assert "  a/short.webm: too short: 5 frames (< 8)" in report


@pytest.mark.parametrize("kind", ["webm", "faststart_mp4"])
def test_truncated_file_counts_only_frames_that_decode(clips, tmp_path, kind):
    source = clips["vp9_40"] if kind == "webm" else write_faststart_h264(tmp_path / "full.mp4", 40)
    data = source.read_bytes()
    path = tmp_path / f"cut{source.suffix}"
    path.write_bytes(data[: len(data) * 6 // 10])

    info = probe_video(path)

    # the index is at the front: the file opens, its last packet is cut, so fewer than 40 frames remain
    assert isinstance(info, index_mod.VideoInfo), info
    assert 0 < info.num_frames < 40
    assert decodable_frames(path) >= info.num_frames
    assert decodable_frames(source) == 40


def test_odd_frame_size_is_reported_as_decoded(tmp_path):
    path = write_video(tmp_path / "odd.webm", 10, width=129, height=97, codec="vp9")  # libx264 refuses odd sizes
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (129, 97, 10)


@pytest.mark.parametrize("encoder, suffix", [("libx264", ".mp4"), ("libvpx-vp9", ".webm")])
def test_variable_frame_rate_counts_true_frames(tmp_path, encoder, suffix):
    gaps = np.random.default_rng(1).choice([20, 40, 100], size=30)
    times = (np.cumsum(gaps) - gaps[0]).tolist()  # 30 frames over about 1.6 s, gaps of 20 to 100 ms
    path = write_vfr(tmp_path / f"vfr{suffix}", times, encoder)
    info = probe_video(path)
    assert info.num_frames == 30
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert info.fps == float(stream.average_rate or stream.guessed_rate)


def test_full_verification_finds_damage_past_the_first_frame(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "good.webm")
    damage_payload(clips["vp9_40"], root / "a" / "damaged.webm", from_frame=30)
    first = build_index(root, workers=1, progress=False)
    assert [v.path for v in first.videos] == ["a/damaged.webm", "a/good.webm"]  # the first frame decodes
    full = build_index(root, workers=1, progress=False, verify="full")
    assert [v.path for v in full.videos] == ["a/good.webm"] and full.verify == "full"
    ((path, reason),) = full.excluded
    assert path == "a/damaged.webm" and reason.startswith("corrupt: cannot decode frame 30: Invalid data")
    assert probe_video(clips["vp9_37"], verify="full") == probe_video(clips["vp9_37"])  # same facts when intact
