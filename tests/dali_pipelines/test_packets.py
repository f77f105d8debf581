"""Decoding only the packets a sample needs gives, bit for bit, the frames a whole-file decode by the same decoder
gives: on CFR and VFR files, H.264 with B-frames and open GOPs (one cut at a non-IDR I-frame), VP9 with hidden
frames, MPEG-4 part 2 in AVI (DivX-packed B-frames too), a keyframe only at frame 0, and a container whose frame
count is wrong; for repeated frames, overlapping
pretraining clips at rho = 4, and evaluation views."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from cvrl_pl.data.index import load_or_build_index, probe_video
from cvrl_pl.data.loader import video_table
from cvrl_pl.tools.read_clip import one_video_table
from dali_pipelines.bitstream import mpeg4_pictures, starts_afresh
from dali_pipelines.decoders import NVDEC, PYAV
from dali_pipelines.packets import spans, sparse_video
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.pyav_decode import decode_pyav
from dali_pipelines.sources import ClipSource, PretrainSource, TestViewSource
from dali_pipelines.verify import OneSample, check_pipeline
from tests.helpers import ROOT
from tests.helpers.decoding import assert_read_clip_is_whole_file, decode_with, whole_dali
from tests.helpers.hard_videos import build_hard_videos
from tests.helpers.videos import write_vfr, write_video


def _open_gop(path: Path) -> Path:
    """H.264 with open GOPs: B-frames before an I-frame (in display order) that refer to the GOP before it."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {
            "preset": "veryfast",
            "x264-params": "keyint=10:min-keyint=10:open-gop=1:bframes=3:scenecut=0",
        }
        rng = np.random.default_rng(0)
        for k in range(60):
            image = np.roll(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) // 4 + 8 * (k % 20), k, axis=1)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def _hard(name: str, path: Path) -> Path:
    """A hard video of benchmarks/hard_videos.py, at ``path``."""
    return build_hard_videos(path.parent / name, [name])[name].rename(path)


def _wrong_count(path: Path) -> Path:
    """An AVI whose headers say 999 frames (it has 40)."""
    data = bytearray(write_video(path, 40, codec="mjpeg").read_bytes())
    for chunk, offset in ((b"avih", 16), (b"strh", 32)):  # dwTotalFrames, the stream's dwLength
        at = data.index(chunk) + 8 + offset
        data[at : at + 4] = (999).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


KINDS = {
    "vp9_cfr.webm": lambda p: write_video(p, 90, codec="vp9", gop=16),
    "vp9_hidden.webm": lambda p: _hard("vp9_hidden", p),
    "h264_bframes.mp4": lambda p: write_video(p, 90, codec="h264", gop=12, bframes=3),
    "h264_open_gop.mkv": _open_gop,
    "h264_vfr.mp4": lambda p: write_vfr(p, [int(40 * k + 17 * (k % 3 == 0)) for k in range(70)]),
    "mpeg4.avi": lambda p: write_video(p, 70, codec="mpeg4", gop=10),
    "mpeg4_packed.avi": lambda p: _hard("mpeg4_packed_avi", p),
    "h264_cut_at_open_gop.mp4": lambda p: _hard("open_gop_start_h264", p),
    "h264_one_keyframe.mp4": lambda p: write_video(p, 70, codec="h264", gop=1000),
    "mjpeg_wrong_count.avi": _wrong_count,
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("kinds")
    return {name: make(folder / name) for name, make in KINDS.items()}


def _wanted(n: int) -> np.ndarray:
    """Two overlapping clips late in the video, a repeat, the first and the last frame."""
    late = n - 30
    return np.array([*range(late, late + 16, 2), *range(late + 6, late + 22, 2), 3, 3, 0, n - 1])


@pytest.mark.parametrize("name", list(KINDS))
def test_sparse_decoding_gives_the_whole_file_decodes_frames_bit_for_bit(kinds, name):
    path = kinds[name]
    info = probe_video(path)
    assert not isinstance(info, str), info
    wanted = _wanted(info.num_frames)
    assert_read_clip_is_whole_file(path, wanted)
    sparse = sparse_video(str(path), wanted, np.array(info.keyframes), np.array(info.keyframe_pts))
    assert sparse.source_bytes < path.stat().st_size  # less than the file, keyframe at 0 only included
    if name == "mjpeg_wrong_count.avi":
        with av.open(str(path)) as container:
            assert container.streams.video[0].frames == 999 and info.num_frames == 40


def _first_packet_starts_afresh(data: bytes) -> bool:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        first = next(p for p in container.demux(stream) if p.size)
        return starts_afresh(bytes(first), "h264", stream.codec_context.extradata)


def test_for_nvdec_an_open_gop_clip_starts_at_the_idr_picture_before_it(kinds):
    """NVDEC gets H.264 parameter sets only before IDR pictures (h264_mp4toannexb): with ``fresh_start`` the first
    span begins at one, not at the open-GOP I-frame before the clip; the frames are the whole file's either way."""
    path = kinds["h264_open_gop.mkv"]
    info = probe_video(path)
    keys, stamps = np.array(info.keyframes), np.array(info.keyframe_pts)
    assert keys.tolist() == list(range(0, 60, 10)) and info.stream_faults == 0  # frame 0 is the only IDR
    wanted = np.array([44, 45, 46, 47, 52])
    whole = decode_with(path)[wanted]
    for fresh_start, first_frame in ((False, 40), (True, 0)):
        sparse = sparse_video(str(path), wanted, keys, stamps, fresh_start=fresh_start)
        assert _first_packet_starts_afresh(sparse.data) is fresh_start
        assert int(sparse.frames[0]) == wanted[0] - first_frame  # the stream starts at frame 40, or at frame 0
        np.testing.assert_array_equal(decode_pyav(sparse.data, sparse.frames)[sparse.order], whole)


def test_the_source_hands_nvdec_a_stream_starting_at_an_idr_picture(kinds):
    """What the source gives the graph for a video routed to NVDEC (decoded in the graph, on a GPU): the clip's
    packets from the IDR picture before it; for PyAV the packets from the open-GOP I-frame, decoded."""
    path = kinds["h264_open_gop.mkv"]
    table, _ = one_video_table(str(path))
    wanted = np.array([44, 45, 46, 47])
    whole = decode_with(path)[wanted]
    source = ClipSource(table, num_frames=4, stride=1, batch_size=1, decoders=np.array([NVDEC], np.int8))
    encoded, _, code, picks, order = source.video(0, wanted)
    assert code == NVDEC and _first_packet_starts_afresh(encoded.tobytes()) and picks.tolist() == [44, 45, 46, 47]
    np.testing.assert_array_equal(decode_pyav(encoded.tobytes(), picks)[order], whole)
    source = ClipSource(table, num_frames=4, stride=1, batch_size=1, decoders=np.array([PYAV], np.int8))
    _, decoded, _, picks, order = source.video(0, wanted)
    assert picks.tolist() == [4, 5, 6, 7]  # from the I-frame at frame 40
    np.testing.assert_array_equal(decoded[order], whole)


def test_packed_mpeg4_b_frames_reach_the_decoder_one_picture_a_packet(kinds):
    """DivX's packed B-frames (two VOPs in a packet, a not-coded one in the next) are unpacked in the remux, which
    DALI would do only for an AVI file: NVDEC takes one picture a packet."""
    vops = mpeg4_pictures
    path = kinds["mpeg4_packed.avi"]
    with av.open(str(path)) as container:
        assert sum(vops(bytes(p)) == 2 for p in container.demux(video=0) if p.size) == 29
    info = probe_video(path)
    # its keyframe packets also hold the B-picture shown before them: read from frame 0 (the unpacked file is not)
    assert info.keyframes == (0,) and len(probe_video(kinds["mpeg4.avi"]).keyframes) > 5
    whole = decode_with(path)
    wanted = np.arange(info.num_frames)
    sparse = sparse_video(str(path), wanted, np.array(info.keyframes), np.array(info.keyframe_pts))
    with av.open(io.BytesIO(sparse.data)) as container:
        packets = [bytes(p) for p in container.demux(video=0) if p.size]
    assert len(packets) == info.num_frames == 60 and {vops(p) for p in packets} == {1}
    np.testing.assert_array_equal(decode_pyav(sparse.data, sparse.frames)[sparse.order], whole)
    for frame in (1, 13, 14):  # B-pictures (13: the one packed with the keyframe) and a P-picture, each alone
        sparse = sparse_video(str(path), np.array([frame]), np.array(info.keyframes), np.array(info.keyframe_pts))
        np.testing.assert_array_equal(decode_pyav(sparse.data, sparse.frames)[0], whole[frame])


def test_spans_start_at_the_keyframe_before_each_frame_and_merge_when_they_touch():
    keyframes = np.array([0, 10, 20, 30])
    assert spans(np.array([25, 22, 22, 5]), keyframes) == [(0, 5), (20, 25)]
    assert spans(np.array([9, 10]), keyframes) == [(0, 10)]  # touching: one span
    assert spans(np.array([12, 31]), keyframes) == [(10, 12), (30, 31)]
    assert spans(np.array([7]), np.array([0])) == [(0, 7)]


def test_a_file_that_changed_since_indexing_is_reported_not_decoded(kinds, tmp_path):
    root = tmp_path / "data"
    path = write_video(root / "a" / "v.webm", 48, codec="vp9", gop=16)
    index = load_or_build_index(root, workers=1, progress=False)
    write_video(path, 20, codec="vp9", gop=16)  # replaced by a shorter video after indexing
    source = TestViewSource(video_table(index), num_frames=8, stride=2, batch_size=1, num_temporal=2)
    with pytest.raises(RuntimeError, match=r"v\.webm: changed since it was indexed"):
        source.sample_at(0, 1)


def _decoded(source, epoch: int, i: int) -> tuple[np.ndarray, np.ndarray]:
    """A sample's frames through the pipeline's decode step, and the frame indices it asked for."""
    outputs = source.sample_at(epoch, i)
    feed = OneSample()
    feed.sample = tuple(outputs[k] for k in ("encoded", "decoded", "decoder", "picks", "order"))
    pipe = check_pipeline(feed, None)
    pipe.build()
    return np.asarray(pipe.run()[0][0]), outputs["frames"]


@pytest.mark.parametrize("decoder", ["dali_cpu", "pyav"])
def test_pretraining_samples_at_rho_4_and_evaluation_views_decode_as_the_whole_file(tmp_path, decoder):
    root = tmp_path / "data"
    for k in range(3):
        write_video(root / "a" / f"{k}.webm", 60 + 20 * k, codec="vp9", gop=12)
    index = load_or_build_index(root, workers=1, progress=False)
    table = video_table(index)
    pyav = {vid: decode_with(Path(table.paths[vid])) for vid in range(len(table))}

    def whole(vid: int, asked: np.ndarray) -> np.ndarray:  # the same decoder on the whole file
        return whole_dali(Path(table.paths[vid]), asked) if decoder == "dali_cpu" else pyav[vid][asked]

    view = ViewAugConfig(crop_size=32)
    temporal = {"distribution": "decreasing", "power": 1.0, "gap": 0}
    pretrain = PretrainSource(table, (view,) * 4, temporal, num_frames=8, stride=2, batch_size=3, decoders=decoder)
    overlapping = 0
    for i in range(len(pretrain.plan(0))):
        frames, asked = _decoded(pretrain, 0, i)
        vid = pretrain.video_of(pretrain.item_at(0, i)[0])
        np.testing.assert_array_equal(frames, whole(vid, asked))
        overlapping += len(np.unique(asked)) < len(asked)
    assert overlapping >= 1  # 4 clips of 15 frames in 60-100 frames: some repeat frames
    evaluate = TestViewSource(table, num_frames=8, stride=2, batch_size=2, num_temporal=3, decoders=decoder)
    for i in range(len(evaluate.plan(0))):
        frames, asked = _decoded(evaluate, 0, i)
        vid = evaluate.video_of(evaluate.item_at(0, i)[0])
        np.testing.assert_array_equal(frames, whole(vid, asked))


def _read_clip_command(path: Path, frames: str, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cvrl_pl.tools.read_clip", str(path), "--frames", frames, "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_read_clip_command_saves_the_frames(kinds, tmp_path):
    out = tmp_path / "clip.npy"
    path = kinds["vp9_cfr.webm"]
    done = _read_clip_command(path, "0,5,5,80", out)
    assert done.returncode == 0, done.stderr[-2000:]
    clip = np.load(out)
    assert clip.shape == (4, 48, 64, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, decode_with(path)[[0, 5, 5, 80]])
    bad = _read_clip_command(path, "0,90", out)
    assert bad.returncode == 2 and f"{path} has frames 0 to 89" in bad.stderr
