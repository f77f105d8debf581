"""The columnar index: chunks committed and cut back on resume, columns that pickle as file names, keyframes from
the demuxer, a killed build that resumes, and sources that read the same samples as from the JSON index's table."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from cvrl_pl.data.index import build as index_build
from cvrl_pl.data.index import columns, load_or_build_index, probe_video, video_index
from cvrl_pl.data.index.columns import ColumnWriter, Spec, open_tables, read_rows
from cvrl_pl.data.loader import video_table
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.sources import PretrainSource, TestViewSource, TrainClipSource
from dali_pipelines.table import VideoTable
from tests.helpers.index import put
from tests.helpers.videos import write_vfr, write_video

SCHEMA = {"t": {"x": Spec("<i4"), "name": Spec("u1", ragged=True), "runs": Spec("<i8", ragged=True)}}


def _chunk(first: int, n: int) -> dict:
    ids = range(first, first + n)
    return {"x": list(ids), "name": [f"v{i}" for i in ids], "runs": [np.arange(i % 3) for i in ids]}


def test_a_writer_killed_mid_chunk_resumes_from_its_last_commit(tmp_path):
    folder = tmp_path / "table"
    writer = ColumnWriter(folder, SCHEMA)
    writer.append("t", _chunk(0, 5))
    writer.commit(done=5)
    writer.append("t", _chunk(5, 4))  # written, never committed: the process is killed here
    assert (folder / "t.x.bin").stat().st_size == 9 * 4
    meta, tables = open_tables(folder)
    assert meta == {"done": 5} and len(tables["t"]["x"]) == 5  # a reader sees the last commit only

    again = ColumnWriter(folder, SCHEMA, resume=True)
    assert again.rows("t") == 5 and again.meta == {"done": 5}
    assert (folder / "t.x.bin").stat().st_size == 5 * 4  # cut back
    again.append("t", _chunk(5, 4))
    again.commit(done=9)
    _, tables = open_tables(folder)
    assert np.asarray(tables["t"]["x"]).tolist() == list(range(9))
    assert list(tables["t"]["name"]) == [f"v{i}" for i in range(9)]
    assert [tables["t"]["runs"][i].tolist() for i in range(9)] == [list(range(i % 3)) for i in range(9)]

    other = ColumnWriter(folder, {"t": {"x": Spec("<i8")}}, resume=True)  # another schema: starts empty
    assert other.rows("t") == 0


def test_columns_pickle_as_their_file_names_not_their_values(tmp_path):
    writer = ColumnWriter(tmp_path / "big", SCHEMA)
    n = 200_000
    writer.append("t", {"x": np.arange(n), "name": [f"v{i}" for i in range(n)], "runs": [np.arange(2)] * n})
    writer.commit()
    _, tables = open_tables(tmp_path / "big")
    blob = pickle.dumps(tables["t"])
    assert len(blob) < 2000  # the values are 2.8 MB
    copy = pickle.loads(blob)
    assert copy["x"][n - 1] == n - 1 and copy["name"][123_456] == "v123456" and copy["runs"][7].tolist() == [0, 1]


def _mapped_mib() -> float:
    """This process's resident file-backed memory (RssFile) in MiB: the mapped pages it touched."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:")) / 1024


def test_a_scan_by_read_rows_keeps_a_column_out_of_the_process_where_the_map_keeps_it_in(tmp_path):
    """A rank scans whole columns at its start (stream formats, shared-memory sizes): through read_rows they cost
    the rank nothing resident; through the map each touched page stays in its memory (and its peak) for good."""
    n = 16 << 20  # a 64 MiB int32 column
    writer = ColumnWriter(tmp_path / "scan", {"t": {"x": Spec("<i4")}})
    writer.append("t", {"x": np.arange(n, dtype=np.int32)})
    writer.commit()
    column = open_tables(tmp_path / "scan")[1]["t"]["x"]
    before = _mapped_mib()
    total = sum(int(read_rows(column, start, start + (1 << 20)).sum(dtype=np.int64)) for start in range(0, n, 1 << 20))
    assert total == n * (n - 1) // 2
    scanned = _mapped_mib()
    assert scanned - before < 4  # read from the file: nothing of the column stays resident
    assert int(np.asarray(column).sum(dtype=np.int64)) == total
    assert _mapped_mib() - scanned > 56  # the same scan through the map: the column's 64 MiB stay in the process
    assert read_rows(column, n - 2, n + 5).tolist() == [n - 2, n - 1] and len(read_rows(column, 5, 2)) == 0
    assert read_rows(np.arange(6), 2, 4).tolist() == [2, 3]


def test_a_string_column_read_in_chunks_equals_it_read_row_by_row(tmp_path, monkeypatch):
    monkeypatch.setattr(columns, "ITER_CHUNK", 7)  # chunks that split the rows unevenly
    names = [f"vidéo {i}" if i % 3 else "" for i in range(40)]  # UTF-8 of two bytes, and empty strings
    writer = ColumnWriter(tmp_path / "s", {"t": {"s": Spec("u1", ragged=True)}})
    writer.append("t", {"s": names})
    writer.commit()
    column = open_tables(tmp_path / "s")[1]["t"]["s"]
    assert list(column) == [column[i] for i in range(40)] == names
    assert column.rows(38, 45) == names[38:] and column.rows(5, 2) == [] and column.rows(0, 1) == [""]


class _Columns:
    """What column_stats reads of VideoColumns: its columns (plain arrays here) and its length."""

    def __init__(self, columns: dict):
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns["num_frames"])


@pytest.mark.parametrize("n", [1, 2, 5, 1001])
def test_the_reports_column_figures_read_in_chunks_equal_numpys_on_the_whole_columns(n, monkeypatch):
    monkeypatch.setattr(video_index, "CHUNK", 64)  # several chunks, the last one short
    rng = np.random.default_rng(n)
    columns = {
        "num_frames": rng.integers(1, 300, n),
        "fps": rng.uniform(10, 60, n),
        "width": rng.integers(64, 400, n),
        "height": rng.integers(64, 400, n),
        "label": rng.integers(-1, 4, n),  # -1: a video without one (charades)
    }
    stats = video_index.column_stats(_Columns(columns), 4)
    frames, labels = columns["num_frames"], columns["label"]
    assert stats["frames"] == {
        "min": frames.min(),
        "max": frames.max(),
        "median": np.median(frames),
        "total": frames.sum(),
    }
    assert stats["fps"] == [columns["fps"].min(), columns["fps"].max()]
    short = np.minimum(columns["width"], columns["height"])
    assert stats["short_side"] == [short.min(), short.max()]
    assert stats["per_class"].tolist() == np.bincount(labels[labels >= 0], minlength=4).tolist()


def _decoded_keyframes(path: Path) -> tuple[list[int], list[int]]:
    """Display indices and timestamps of the keyframes, from decoding every frame."""
    with av.open(str(path)) as container:
        frames = [(f.key_frame, f.pts) for f in container.decode(video=0)]
    return [i for i, (key, _) in enumerate(frames) if key], [pts for key, pts in frames if key]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("h264_bframes.mp4", lambda p: write_video(p, 60, codec="h264", gop=12, bframes=3)),
        ("vp9.webm", lambda p: write_video(p, 50, codec="vp9", gop=16)),
        ("mpeg4.avi", lambda p: write_video(p, 40, codec="mpeg4", gop=10)),
        ("only_first.mp4", lambda p: write_video(p, 30, codec="h264", gop=1000)),
        ("vfr.mp4", lambda p: write_vfr(p, [0, 40, 45, 200, 210, 400, 1000, 1040, 1500, 1501])),
    ],
)
def test_probing_finds_the_keyframes_a_full_decode_finds_from_the_demuxer_alone(tmp_path, name, make):
    path = make(tmp_path / name)
    info = probe_video(path)
    display, stamps = _decoded_keyframes(path)
    assert list(info.keyframes) == display and list(info.keyframe_pts) == stamps
    assert info.keyframes[0] == 0
    if name in ("h264_bframes.mp4", "vp9.webm"):  # (the MPEG-4 encoder adds keyframes at scene changes too)
        gop = {"h264_bframes.mp4": 12, "vp9.webm": 16}[name]
        assert list(info.keyframes) == list(range(0, info.num_frames, gop))
    if name == "only_first.mp4":
        assert info.keyframes == (0,)


def test_h264_with_bframes_stores_frames_out_of_display_order(tmp_path):
    """The case keyframe_positions exists for: decode order is not display order."""
    path = write_video(tmp_path / "b.mp4", 30, codec="h264", gop=10, bframes=3)
    with av.open(str(path)) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size]
    assert pts != sorted(pts)
    assert probe_video(path).keyframe_pts == tuple(sorted(pts)[k] for k in (0, 10, 20))


def test_a_killed_build_resumes_without_probing_what_it_committed(clips, tmp_path, probe_counter, monkeypatch):
    root = tmp_path / "data"
    names = [f"a/{k}.webm" for k in range(7)]
    for name in names:
        put(clips, "vp9_20", root / name)
    monkeypatch.setattr(index_build, "CHUNK", 2)  # commit every 2 files
    real = index_build.probe_iter

    def killed_after_five(paths, *args, **kwargs):
        for k, result in enumerate(real(paths, *args, **kwargs)):
            if k == 5:
                raise KeyboardInterrupt  # Ctrl-C while probing the 6th file
            yield result

    monkeypatch.setattr(index_build, "probe_iter", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        load_or_build_index(root, workers=1, progress=False)
    (partial,) = root.glob(".cvrl_index.partial-*")
    assert not (root / ".cvrl_index").exists()

    monkeypatch.setattr(index_build, "probe_iter", real)
    probe_counter.clear()
    index = load_or_build_index(root, workers=1, progress=False)
    assert probe_counter == ["4.webm", "5.webm", "6.webm"]  # the first two chunks were committed
    assert [v.path for v in index.videos] == names and all(v.num_frames == 20 for v in index.videos)
    assert not partial.exists() and not list(root.glob(".cvrl_index.partial-*"))


def test_a_file_changed_since_indexing_is_probed_again_never_read_with_its_old_keyframes(clips, tmp_path):
    """Rewritten in place (its folder's listing unchanged), a file is probed again at the next listing
    (``reindex="always"``); a start that trusts the index (``auto``) keeps its row, and reading it reports the
    change (tests/dali_pipelines/test_packets.py), never its old keyframes."""
    root = tmp_path / "data"
    path = root / "a" / "v.webm"
    write_video(path, 48, codec="vp9", gop=16)
    first = load_or_build_index(root, workers=1, progress=False)
    assert first.videos[0].keyframes == (0, 16, 32)
    stat = path.stat()
    write_video(path, 48, codec="vp9", gop=24)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert load_or_build_index(root, workers=1, progress=False).videos[0].mtime_ns == stat.st_mtime_ns
    again = load_or_build_index(root, workers=1, progress=False, reindex="always")
    assert again.videos[0].keyframes == (0, 24)


def _json_table(index) -> VideoTable:
    """The sources' table as the JSON index gave it before version 3: Python paths and lists of the records (with
    the keyframes and stat that version 3 added)."""
    v = list(index.videos)
    return VideoTable(
        paths=tuple(index.ref(i) for i in range(len(v))),
        num_frames=np.array([r.num_frames for r in v], np.int64),
        widths=np.array([r.width for r in v], np.int64),
        heights=np.array([r.height for r in v], np.int64),
        labels=np.array([r.label for r in v], np.int64),
        keyframes=[r.keyframes for r in v],
        keyframe_pts=[r.keyframe_pts for r in v],
        sizes=[r.size for r in v],
        mtimes=[r.mtime_ns for r in v],
    )


def test_sources_read_the_same_samples_from_the_columnar_index_as_from_the_json_tables(clips, tmp_path):
    root = tmp_path / "data"
    for k, clip in enumerate(["vp9_37", "vp9_20", "vp8_15", "vp9_40", "vp9_5", "vp9_37"]):
        put(clips, clip, root / f"c{k % 2}" / f"{k}.webm")
    index = load_or_build_index(root, workers=1, progress=False)
    columnar, old = video_table(index), _json_table(index)
    assert list(columnar.paths) == list(old.paths)
    worker_copy = pickle.loads(pickle.dumps(columnar))  # what a spawned worker reads
    view = ViewAugConfig(crop_size=32)
    temporal = {"distribution": "decreasing", "power": 1.0, "gap": 0}
    for rho in (2, 4):
        options = {"num_frames": 8, "stride": 2, "batch_size": 2, "num_shards": 2, "seed": 3}
        for shard in (0, 1):
            sources = [PretrainSource(t, (view,) * rho, temporal, shard_id=shard, **options) for t in (old, columnar)]
            sources.append(PretrainSource(worker_copy, (view,) * rho, temporal, shard_id=shard, **options))
            _assert_same_samples(sources)
    clips = {"num_frames": 8, "stride": 2, "batch_size": 3}
    _assert_same_samples([TrainClipSource(t, view, **clips) for t in (old, columnar)])
    _assert_same_samples([TestViewSource(t, **clips) for t in (old, columnar)])


def _assert_same_samples(sources: list) -> None:
    for epoch in (0, 1):
        assert len({len(s.plan(epoch)) for s in sources}) == 1
        for i in range(len(sources[0].plan(epoch))):
            samples = [s.sample_at(epoch, i) for s in sources]
            for other in samples[1:]:
                assert list(other) == list(samples[0])
                for name in samples[0]:
                    np.testing.assert_array_equal(samples[0][name], other[name])


def test_a_folder_index_is_not_listed_as_candidate_files(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_20", root / "a" / "1.webm")
    out = root / "my_index"  # a visible index folder inside the dataset
    load_or_build_index(root, index_path=out, layout="unlabelled", workers=1, progress=False)
    again = load_or_build_index(root, index_path=out, layout="unlabelled", workers=1, progress=False)
    assert [v.path for v in again.videos] == ["a/1.webm"] and again.excluded == []
    shutil.rmtree(out)
