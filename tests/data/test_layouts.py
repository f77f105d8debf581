"""Dataset layouts: folder, csv, kinetics and unlabelled trees, what ``auto`` takes each root for (stray files
ignored, folders at any depth are classes, videos beside folders refused), and CSV errors naming the file and line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from cvrl_pl.config import load_config
from cvrl_pl.data.datamodule import split_index
from cvrl_pl.data.index import DatasetError, build_index
from cvrl_pl.errors import DatasetKeyError
from tests.helpers.index import put


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
    assert index.ref(2) == str(root / "dog" / "a.webm")
    assert (v.size, v.mtime_ns) == (os.path.getsize(index.ref(2)), os.stat(index.ref(2)).st_mtime_ns)


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

    index = build_index(root, layout="unlabelled", workers=1, progress=False)

    assert (index.layout, index.classes) == ("unlabelled", [])
    assert {v.path: (v.label, v.num_frames) for v in index.videos} == {"top.webm": (-1, 37), "a/b/deep.mp4": (-1, 12)}


def _stray_files_tree(clips, root):
    """Two class folders, one of them holding its videos in a sub-folder only, and two files that are not videos."""
    put(clips, "vp9_20", root / "cat" / "a.webm")
    put(clips, "h264_12", root / "dog" / "2024" / "b.mp4")
    (root / "README.txt").write_text("my dataset")
    (root / "manifest.json").write_text("{}")
    return root


def test_auto_ignores_files_that_are_not_videos_beside_the_class_folders(clips, tmp_path, caplog):
    root = _stray_files_tree(clips, tmp_path / "data")

    with caplog.at_level(logging.WARNING):
        indexes = [build_index(root, layout=layout, workers=1, progress=False) for layout in ("auto", "folder", "auto")]

    for index in indexes:
        assert (index.layout, index.classes, index.excluded) == ("folder", ["cat", "dog"], [])
        assert {v.path: v.label for v in index.videos} == {"cat/a.webm": 0, "dog/2024/b.mp4": 1}
    # One line names them, once however often the split is listed (a run lists it for each of its readers).
    assert [r.getMessage() for r in caplog.records if r.name.startswith("cvrl_pl")] == [
        f"{indexes[0].root}: ignored 2 file(s) at the root that are not videos: README.txt, manifest.json"
    ]


def test_the_index_command_shows_the_ignored_files(clips, tmp_path):
    root = _stray_files_tree(clips, tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "cvrl_pl.data.index", str(root), "--quiet", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "(layout folder, 2 classes): 2 usable videos, 0 excluded" in done.stdout
    assert "ignored 2 file(s) at the root that are not videos: README.txt, manifest.json" in done.stderr


def test_auto_takes_folders_of_sub_folders_as_classes(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_20", root / "cat" / "indoor" / "a.webm")
    put(clips, "h264_12", root / "cat" / "outdoor" / "b.mp4")
    put(clips, "vp8_15", root / "dog" / "x" / "y" / "c.webm")

    index = build_index(root, workers=1, progress=False)

    assert (index.layout, index.classes) == ("folder", ["cat", "dog"])
    assert {v.path: v.label for v in index.videos} == {
        "cat/indoor/a.webm": 0,
        "cat/outdoor/b.mp4": 0,
        "dog/x/y/c.webm": 1,
    }


def test_auto_refuses_videos_beside_folders_and_asks_for_the_layout(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "top.webm")
    put(clips, "h264_12", root / "cat" / "a.mp4")
    with pytest.raises(
        DatasetKeyError, match=r"^layout=auto cannot tell whether .* videos \(top.webm\) beside folders \(cat\)"
    ):
        build_index(root, workers=1, progress=False)
    cfg = load_config(None, [f"data.root={root}"])
    with pytest.raises(DatasetKeyError, match="set data.layout=folder .* or data.layout=unlabelled") as raised:
        split_index(cfg.data, section="data", progress=False)
    assert str(raised.value).startswith("data.layout=auto cannot tell")
    # Told, each layout reads it: a video beside the class folders has no class.
    folder = build_index(root, layout="folder", workers=1, progress=False)
    assert (folder.classes, folder.excluded) == (["cat"], [("top.webm", "not in a class folder")])
    assert len(build_index(root, layout="unlabelled", workers=1, progress=False).videos) == 2


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
