"""The transcoding tool: output size, constant frame rate, frame content, resumability and bad files."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cvrl_pl.data.index import build_index
from cvrl_pl.data.prepare import constant_rate, convert_video, prepare_dataset, resize_shape, temp_path
from tests.helpers.videos import read_index, write_vfr, write_video


def frames_of(path: Path) -> tuple[av.video.stream.VideoStream, list[tuple[Fraction, int]]]:
    """The video stream and (time in seconds, drawn index) of every decoded frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(f.pts * f.time_base, read_index(f.to_ndarray(format="rgb24"))) for f in container.decode(stream)]
    return stream, frames


@pytest.mark.parametrize(
    "size, short_side, expected",
    [
        ((340, 256), 256, (340, 256)),
        ((640, 480), 256, (342, 256)),  # 341.33 -> nearest even
        ((480, 640), 256, (256, 342)),  # portrait
        ((1920, 1080), 256, (456, 256)),  # 455.1 -> 456
        ((129, 97), 32, (42, 32)),  # 42.56 -> 42
        ((100, 100), 320, (320, 320)),  # upscaled as asked
    ],
)
def test_resize_shape(size, short_side, expected):
    assert resize_shape(*size, short_side) == expected


def test_resize_shape_needs_an_even_short_side():
    with pytest.raises(ValueError, match="even"):
        resize_shape(640, 480, 255)


def resampled(times: list[Fraction], rate: Fraction, duration: Fraction) -> list[int]:
    """Source frame index of each output frame of ``constant_rate``."""
    return [i for _, i in constant_rate(zip(times, range(len(times)), strict=True), rate, lambda _: duration)]


def test_constant_rate_takes_the_latest_frame_at_or_before_each_time():
    times = [Fraction(t) for t in ("5", "5.1", "5.12", "5.3")]  # starts at 5 s: output times count from there
    tenth = Fraction(1, 10)
    assert resampled(times, Fraction(10), tenth) == [0, 1, 2, 3]  # at 0, 0.1, 0.2, 0.3 s; ends at 0.4 s
    assert resampled(times, Fraction(20), tenth) == [0, 0, 1, 2, 2, 2, 3, 3]
    assert resampled(times, Fraction(5), tenth) == [0, 2]
    ms = [Fraction(round(k * 1001 / 30), 1000) for k in range(30)]  # 29.97 fps with times rounded to milliseconds
    assert resampled(ms, Fraction(30000, 1001), Fraction(33, 1000)) == list(range(30))


def test_convert_h264_to_vp9(tmp_path):
    source = write_video(tmp_path / "in.mp4", 37, width=96, height=64, codec="h264")
    frames = convert_video(source, tmp_path / "out" / "in.webm", short_side=32, codec="vp9")

    stream, decoded = frames_of(tmp_path / "out" / "in.webm")
    assert frames == 37
    assert (stream.codec_context.name, stream.width, stream.height) == ("vp9", 48, 32)
    assert stream.average_rate == 25
    assert [t for t, _ in decoded] == [Fraction(k, 25) for k in range(37)]  # constant rate
    assert [i for _, i in decoded] == list(range(37))  # every frame, in order
    assert not temp_path(tmp_path / "out" / "in.webm").exists()


def test_variable_rate_source_resampled_to_constant_fps(tmp_path):
    times = [0, 20, 40, 140, 160, 260, 280, 300, 400, 420]  # ms; the last frame lasts until about 440 ms
    source = write_vfr(tmp_path / "vfr.mp4", times)
    convert_video(source, tmp_path / "cfr.mp4", short_side=48, codec="h264", fps=10)

    stream, decoded = frames_of(tmp_path / "cfr.mp4")
    assert stream.average_rate == 10
    assert [t for t, _ in decoded] == [Fraction(k, 10) for k in range(5)]
    # at 0, 100, 200, 300, 400 ms: the latest source frame at or before
    assert [i for _, i in decoded] == [0, 2, 4, 7, 8]


def test_prepare_dataset_is_resumable_and_reports_bad_files(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_video(src / "a" / "one.mp4", 20, codec="h264")
    write_video(src / "a" / "two.webm", 30, width=48, height=64, codec="vp9")
    write_video(src / "b" / "deep" / "three.avi", 12, codec="mjpeg")
    (src / "b" / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (src / "b" / "empty.mkv").write_bytes(b"")
    (src / "b" / "labels.txt").write_text("not a video\n")
    killed = temp_path(dst / "a" / "one.webm")  # the half-written output of a killed run
    killed.parent.mkdir(parents=True)
    killed.write_bytes(b"half an output")

    first = prepare_dataset(src, dst, short_side=32, codec="vp9", workers=2, progress=False)

    assert (first["converted"], first["skipped"]) == (3, 0)
    assert first["failed"] == [
        ("b/empty.mkv", "empty file"),
        ("b/labels.txt", "not a video"),
        ("b/random.mp4", "corrupt: moov atom not found"),
    ]
    assert not killed.exists()
    index = build_index(dst, workers=1, progress=False)
    assert [(v.path, v.num_frames, v.codec, v.width, v.height) for v in index.videos] == [
        ("a/one.webm", 20, "vp9", 42, 32),
        ("a/two.webm", 30, "vp9", 32, 42),
        ("b/deep/three.webm", 12, "vp9", 42, 32),
    ]
    stamps = {p: p.stat().st_mtime_ns for p in dst.rglob("*.webm")}

    second = prepare_dataset(src, dst, short_side=32, codec="vp9", workers=1, progress=False)

    assert (second["converted"], second["skipped"], len(second["failed"])) == (0, 3, 3)
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*.webm")} == stamps


def test_cli(tmp_path):
    src = tmp_path / "src"
    write_video(src / "x.webm", 10, codec="vp9")
    (src / "bad.mp4").write_bytes(b"\x00" * 100)
    command = [sys.executable, "-m", "cvrl_pl.data.prepare", str(src), str(tmp_path / "dst")]
    done = subprocess.run(
        [*command, "--short-side", "16", "--codec", "h264", "--fps", "5", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "failed: bad.mp4: corrupt: moov atom not found" in done.stdout
    assert "converted 1, skipped 0 (already done), failed 1" in done.stdout
    with av.open(str(tmp_path / "dst" / "x.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (22, 16, 5)
        assert sum(1 for _ in container.decode(stream)) == 2  # 10 frames at 25 fps = 0.4 s -> 2 frames at 5 fps

    bad = subprocess.run([*command, "--short-side", "15"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "error: short side must be an even number" in bad.stderr


def dali_cpu_frames(path: Path) -> list[int]:
    """Drawn index of every frame DALI's CPU video reader gives for one file."""
    from nvidia.dali import fn, pipeline_def

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def frames():
        return fn.experimental.readers.video(device="cpu", filenames=[str(path)], sequence_length=1, name="reader")

    pipe = frames()
    pipe.build()
    return [read_index(np.array(pipe.run()[0][0])[0]) for _ in range(pipe.epoch_size("reader"))]


def test_prepared_vp9_decodes_on_dali_cpu_with_the_indexed_frame_count(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_video(src / "c" / "h264.mp4", 23, width=96, height=64, codec="h264")  # DALI's CPU decoder lacks H.264
    write_vfr(src / "c" / "vfr.mp4", [0, 40, 60, 200, 240, 280, 400])
    cut = write_video(src / "c" / "cut.webm", 30, codec="vp9").read_bytes()
    (src / "c" / "cut.webm").write_bytes(cut[: len(cut) // 2])
    assert prepare_dataset(src, dst, short_side=32, codec="vp9", fps=25, workers=1, progress=False)["converted"] == 3

    index = build_index(dst, workers=1, progress=False)

    counts = {v.path: v.num_frames for v in index.videos}
    assert counts["c/h264.webm"] == 23 and counts["c/vfr.webm"] == 11  # 0 to 400 ms at 25 fps
    assert 0 < counts["c/cut.webm"] < 30
    frames = {v.path: dali_cpu_frames(Path(index.ref(i))) for i, v in enumerate(index.videos)}
    assert frames["c/h264.webm"] == list(range(23))
    assert frames["c/cut.webm"] == list(range(counts["c/cut.webm"]))
    # every 40 ms, the latest of the source frames at 0, 40, 60, 200, 240, 280, 400 ms
    assert frames["c/vfr.webm"] == [0, 1, 2, 2, 2, 3, 4, 5, 5, 5, 6]
