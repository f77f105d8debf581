"""The video index: layouts, probing of good and bad files, reuse of a saved index, and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from cvrl_pl.data import index as index_mod
from cvrl_pl.data.index import DatasetError, VideoIndex, build_index, load_or_build_index, probe_video
from tests.helpers.videos import index_frame, write_vfr, write_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Small videos written once, copied into each test's tree."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "vp9_37": write_video(d / "vp9_37.webm", 37, codec="vp9"),
        "h264_37": write_video(d / "h264_37.mp4", 37, codec="h264"),
        "vp9_20": write_video(d / "vp9_20.webm", 20, codec="vp9"),
        "h264_12": write_video(d / "h264_12.mp4", 12, codec="h264"),
        "vp8_15": write_video(d / "vp8_15.webm", 15, codec="vp8"),
        "mjpeg_9": write_video(d / "mjpeg_9.avi", 9, codec="mjpeg"),
        "vp9_5": write_video(d / "vp9_5.webm", 5, codec="vp9"),
        "vp9_40": write_video(d / "vp9_40.webm", 40, codec="vp9"),
        "h264_40": write_video(d / "h264_40.mp4", 40, codec="h264"),
    }


def put(clips: dict[str, Path], name: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clips[name], path)
    return path


def by_path(index: VideoIndex) -> dict:
    return {v.path: v for v in index.videos}


def decodable_frames(path: Path) -> int:
    """Frames PyAV decodes from the whole file before the end or the first error."""
    count = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                count += 1
        except av.FFmpegError:
            pass
    return count


def write_faststart_h264(path: Path, num_frames: int) -> Path:
    """An H.264 .mp4 with its index (moov) at the front, as downloaded videos often are."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for k in range(num_frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(index_frame(k, 48, 64), format="rgb24")))
        out.mux(stream.encode(None))
    return path


# ---------------------------------------------------------------------------------------------------------------
# Layouts


def test_folder_layout_counts_frames_of_each_codec(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "dog" / "a.webm")
    put(clips, "h264_37", root / "dog" / "b.mp4")
    put(clips, "vp8_15", root / "cat" / "c.webm")
    put(clips, "mjpeg_9", root / "cat" / "nested" / "d.avi")
    put(clips, "h264_12", root / "cat" / ".hidden.mp4")  # hidden: not a candidate
    (root / "empty_class").mkdir()

    index = build_index(root, workers=1, progress=False)

    assert index.layout == "folder"
    assert index.root == str(root.resolve())
    assert index.classes == ["cat", "dog", "empty_class"]
    assert index.excluded == []
    assert [v.path for v in index.videos] == ["cat/c.webm", "cat/nested/d.avi", "dog/a.webm", "dog/b.mp4"]
    got = {v.path: (v.label, v.num_frames, v.codec, v.width, v.height, v.fps) for v in index.videos}
    assert got == {
        "cat/c.webm": (0, 15, "vp8", 64, 48, 25.0),
        "cat/nested/d.avi": (0, 9, "mjpeg", 64, 48, 25.0),
        "dog/a.webm": (1, 37, "vp9", 64, 48, 25.0),
        "dog/b.mp4": (1, 37, "h264", 64, 48, 25.0),
    }
    v = index.videos[2]
    assert index.abspath(2) == str(root / "dog" / "a.webm")
    assert (v.size, v.mtime_ns) == (os.path.getsize(index.abspath(2)), os.stat(index.abspath(2)).st_mtime_ns)


def test_csv_layout_with_names_and_header(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "x" / "1.webm")
    put(clips, "h264_12", root / "2.mp4")
    put(clips, "vp9_20", root / "3.webm")
    put(clips, "vp9_20", root / "unlisted.webm")  # not in the CSV: not part of the dataset
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\nx/1.webm,zebra\n./2.mp4,ant\n3.webm,zebra\n\nnope.mp4,ant\n")

    index = build_index(root, csv=csv, workers=1, progress=False)

    assert (index.layout, index.csv) == ("csv", str(csv))
    assert index.classes == ["ant", "zebra"]
    assert {v.path: (v.label, v.num_frames) for v in index.videos} == {
        "x/1.webm": (1, 37),
        "2.mp4": (0, 12),
        "3.webm": (1, 20),
    }
    assert index.excluded == [("nope.mp4", "missing")]


def test_csv_layout_with_integer_labels(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_20", root / "a.webm")
    put(clips, "h264_37", root / "b.mp4")
    csv = tmp_path / "list.csv"
    csv.write_text("a.webm,2\nb.mp4,0\n")

    index = build_index(root, csv=csv, layout="csv", workers=1, progress=False)

    assert index.classes == ["0", "1", "2"]  # label i is classes[i]
    assert {v.path: (v.label, v.num_frames) for v in index.videos} == {"a.webm": (2, 20), "b.mp4": (0, 37)}


def test_kinetics_layout(clips, tmp_path):
    root = tmp_path / "k400"
    put(clips, "h264_37", root / "train" / "air drumming" / "abc_000010_000020.mp4")
    put(clips, "vp9_20", root / "train" / "zumba" / "-x_y_000005_000015.webm")  # prepared copy: .webm
    put(clips, "vp9_37", root / "val" / "zumba" / "q1_000000_000010.mkv")
    put(clips, "vp9_5", root / "train" / "zumba" / "stray_000001_000002.mp4")  # not annotated: not used
    csv = tmp_path / "kinetics400_train.csv"
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        '"air drumming",abc,10,20,train\n'
        "zumba,-x_y,5.0,15.0,train\n"
        "zumba,q1,0,10,val\n"
        "abseiling,gone,30,40,train\n"
    )

    index = build_index(root, csv=csv, workers=1, progress=False)

    assert index.layout == "kinetics"
    assert index.classes == ["abseiling", "air drumming", "zumba"]
    assert {v.path: (v.label, v.num_frames, v.codec) for v in index.videos} == {
        "train/air drumming/abc_000010_000020.mp4": (1, 37, "h264"),
        "train/zumba/-x_y_000005_000015.webm": (2, 20, "vp9"),
        "val/zumba/q1_000000_000010.mkv": (2, 37, "vp9"),
    }
    assert index.excluded == [("train/abseiling/gone_000030_000040.mp4", "missing")]


def test_unlabelled_layout_at_any_depth(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "top.webm")
    put(clips, "h264_12", root / "a" / "b" / "deep.mp4")
    put(clips, "vp9_20", root / ".cache" / "skip.webm")  # hidden folder

    index = build_index(root, workers=1, progress=False)

    assert (index.layout, index.classes) == ("unlabelled", [])
    assert {v.path: (v.label, v.num_frames) for v in index.videos} == {"top.webm": (-1, 37), "a/b/deep.mp4": (-1, 12)}


def test_process_pool_gives_the_same_index(clips, tmp_path):
    root = tmp_path / "data"
    for k, name in enumerate(["vp9_37", "h264_37", "vp9_20", "h264_12", "vp8_15"]):
        put(clips, name, root / f"c{k % 2}" / f"{k}{clips[name].suffix}")
    (root / "c0" / "junk.txt").write_text("not a video\n")

    serial = build_index(root, workers=1, progress=False)
    pooled = build_index(root, workers=2, progress=False)

    assert pooled.to_dict() == serial.to_dict()
    assert [v.num_frames for v in pooled.videos] == [37, 20, 15, 37, 12]


# ---------------------------------------------------------------------------------------------------------------
# Bad input


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


def test_csv_errors_name_the_file_and_line(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_20", root / "a.webm")
    with pytest.raises(DatasetError, match="CSV file not found: .*missing.csv"):
        build_index(root, csv=tmp_path / "missing.csv", progress=False)
    csv = tmp_path / "bad.csv"
    csv.write_text("path,label\na.webm,x\na.webm\n")
    with pytest.raises(DatasetError, match=f"{csv}, line 3: expected 'path,label'"):
        build_index(root, csv=csv, progress=False)
    kinetics = tmp_path / "k.csv"
    kinetics.write_text("label,youtube_id,time_start,time_end,split\nzumba,abc,ten,20,train\n")
    with pytest.raises(DatasetError, match=f"{kinetics}, line 2: time_start/time_end must be numbers"):
        build_index(root, csv=kinetics, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# Reuse of a saved index


@pytest.fixture
def probe_counter(monkeypatch) -> list[str]:
    """Every path probed, in order: reuse must probe nothing it already knows."""
    probed: list[str] = []
    real = index_mod._probe_all

    def counting(paths, workers=None, progress=True):
        probed.extend(os.path.basename(p) for p in paths)
        return real(paths, workers, progress)

    monkeypatch.setattr(index_mod, "_probe_all", counting)
    return probed


def test_reuse_probes_only_new_or_changed_files(clips, tmp_path, probe_counter):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "1.webm")
    put(clips, "h264_37", root / "a" / "2.mp4")
    put(clips, "vp9_20", root / "b" / "3.webm")
    (root / "b" / "4.txt").write_text("no\n")
    saved = root / ".cvrl_index.json"

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
    out = tmp_path / "index.json"
    assert load_or_build_index(root, out, workers=1, progress=False).classes == ["a"]
    probe_counter.clear()
    index = load_or_build_index(root, out, layout="unlabelled", workers=1, progress=False)
    assert (index.layout, index.classes, index.videos[0].label) == ("unlabelled", [], -1)
    assert probe_counter == ["1.webm"]
    assert VideoIndex.load(out).layout == "unlabelled"


# ---------------------------------------------------------------------------------------------------------------
# CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cvrl_pl.data.index", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_writes_index_and_report(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "1.webm")
    put(clips, "h264_12", root / "b" / "2.mp4")
    (root / "b" / "3.mp4").write_bytes(b"")
    out = tmp_path / "idx" / "train.json"

    done = run_cli(str(root), "--out", str(out), "--workers", "2", "--min-frames", "2")

    assert done.returncode == 0, done.stderr
    assert "2 usable videos, 1 excluded" in done.stdout
    assert "codecs: h264 1, vp9 1" in done.stdout
    assert "frames: 12 to 37" in done.stdout
    assert "  b/3.mp4: empty file" in done.stdout
    index = VideoIndex.load(out)
    assert (index.classes, [v.num_frames for v in index.videos], index.min_frames) == (["a", "b"], [37, 12], 2)


def test_cli_error_exit_code(tmp_path):
    done = run_cli(str(tmp_path / "nowhere"), "--out", str(tmp_path / "i.json"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: dataset root not found: {tmp_path / 'nowhere'}"
    assert not (tmp_path / "i.json").exists()
