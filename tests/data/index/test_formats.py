"""The index records each video's stream format (profile, pixel format, bit depth, chroma), routes it to a
decoder per GPU generation, reports the counts as JSON, and re-probes an index written before it did.

The files are the kinds users have besides the usual 8-bit 4:2:0: H.264 High 10, 4:2:2 and 4:4:4, HEVC, AV1, VP9
profile 1 (4:4:4) and MJPEG 4:2:2. VP9 profile 2 (10-bit) is not here: this machine's libvpx cannot encode it
(the routing table's own test covers it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cvrl_pl.data.decoding import video_routes
from cvrl_pl.data.index import VideoIndex, load_or_build_index
from cvrl_pl.data.index.records import FORMAT_VERSION
from dali_pipelines.decoders import fault_names, nvdec_faults
from tests.helpers.hard_videos import build_hard_videos
from tests.helpers.videos import write_video

# name -> (codec, pix_fmt written), and what probing must find: (codec, profile, pix_fmt, bit depth, chroma)
KINDS = {
    "a/h264.mp4": (("h264", None), ("h264", "Constrained Baseline", "yuv420p", 8, "4:2:0")),  # preset ultrafast
    "a/vp9.webm": (("vp9", None), ("vp9", "Profile 0", "yuv420p", 8, "4:2:0")),
    "a/hevc.mp4": (("hevc", None), ("hevc", "Main", "yuv420p", 8, "4:2:0")),
    "b/h264_10bit.mp4": (("h264", "yuv420p10le"), ("h264", "High 10", "yuv420p10le", 10, "4:2:0")),
    "b/h264_422.mp4": (("h264", "yuv422p"), ("h264", "High 4:2:2", "yuv422p", 8, "4:2:2")),
    "b/h264_444.mp4": (("h264", "yuv444p"), ("h264", "High 4:4:4 Predictive", "yuv444p", 8, "4:4:4")),
    "b/av1.mkv": (("av1", None), ("av1", "Main", "yuv420p", 8, "4:2:0")),
    "b/mjpeg_422.avi": (("mjpeg", "yuvj422p"), ("mjpeg", "Baseline", "yuvj422p", 8, "4:2:2")),
    "b/vp9_444.webm": (("vp9", "yuv444p"), ("vp9", "Profile 1", "yuv444p", 8, "4:4:4")),
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds") / "data"
    for name, ((codec, pix_fmt), _) in KINDS.items():
        write_video(root / name, 12, width=160, height=144, codec=codec, pix_fmt=pix_fmt)  # a size NVDEC takes
    return root


def run_cli(*args: str) -> dict:
    """The JSON object on the last line of ``python -m cvrl_pl.data.index ... --json``."""
    done = subprocess.run(
        [sys.executable, "-m", "cvrl_pl.data.index", *args, "--json", "--quiet", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_probing_records_each_videos_stream_format(kinds, tmp_path):
    index = load_or_build_index(kinds, index_path=tmp_path / "index", workers=1, progress=False)
    found = {v.path: (v.codec, v.profile, v.pix_fmt, v.bit_depth, v.chroma) for v in index.videos}
    assert found == {name: expected for name, (_, expected) in KINDS.items()}
    assert VideoIndex.load(tmp_path / "index").videos == index.videos  # saved and read back


def test_report_routes_per_video_for_a_hopper_a_blackwell_and_this_cpu(kinds, tmp_path):
    out = str(tmp_path / "index")
    hopper = run_cli(str(kinds), "--out", out, "--gpu-capability", "9.0")
    assert {k: hopper[k] for k in ("layout", "classes", "videos", "excluded")} == {
        "layout": "folder",
        "classes": 2,
        "videos": 9,
        "excluded": 0,
    }
    # H100/H200: 8-bit 4:2:0 H.264, HEVC and VP9 on NVDEC; MJPEG and VP9 4:4:4 on DALI's CPU decoder; 10-bit,
    # 4:2:2 and 4:4:4 H.264 and AV1 on PyAV
    assert hopper["decoders"] == {"nvdec": 3, "dali_cpu": 2, "pyav": 4}
    assert (hopper["gpu_capability"], hopper["gpu_generation"]) == ("9.0", "Hopper (H100, H200)")
    index = VideoIndex.load(out)
    routed = dict(zip((v.path for v in index.videos), video_routes(index, (9, 0)).tolist(), strict=True))
    assert [p for p, code in routed.items() if code == 2] == [
        "b/av1.mkv",
        "b/h264_10bit.mp4",
        "b/h264_422.mp4",
        "b/h264_444.mp4",
    ]
    # Blackwell decodes H.264 High 10 and AV1 too
    assert run_cli(str(kinds), "--out", out, "--gpu-capability", "12.0")["decoders"] == {
        "nvdec": 5,
        "dali_cpu": 2,
        "pyav": 2,
    }
    here = run_cli(str(kinds), "--out", out)  # this machine: no GPU
    assert (here["device"], here["gpu_capability"]) == ("cpu", None)
    assert here["decoders"] == {"nvdec": 0, "dali_cpu": 3, "pyav": 6}  # VP9 x2 and MJPEG; H.264, HEVC, AV1


def test_a_bad_capability_is_a_usage_error(kinds, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "cvrl_pl.data.index", str(kinds), "--gpu-capability", "hopper"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "a compute capability is MAJOR.MINOR, like 9.0" in done.stderr


def test_an_index_of_an_older_version_is_probed_again_not_misread(kinds, tmp_path, probe_counter):
    out = tmp_path / "index"
    load_or_build_index(kinds, index_path=out, workers=1, progress=False)
    assert len(probe_counter) == len(KINDS)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["meta"]["version"] = 2
    (out / "manifest.json").write_text(json.dumps(manifest))
    said: list[str] = []
    index = load_or_build_index(kinds, index_path=out, workers=1, progress=False, log=said.append)
    assert said == [
        f"probing every file again: {out} is a version 2 index (this cvrl-pl reads version {FORMAT_VERSION})"
    ]
    assert len(probe_counter) == 2 * len(KINDS)  # every file probed again
    assert {v.path: v.bit_depth for v in index.videos}["b/h264_10bit.mp4"] == 10
    assert VideoIndex.load(out).description()["version"] == FORMAT_VERSION


def test_a_json_index_of_before_version_3_is_probed_again_and_replaced(kinds, tmp_path, probe_counter):
    legacy = kinds / ".cvrl_index.json"  # where versions 1 and 2 were saved, as one JSON file
    legacy.write_text(json.dumps({"format": "cvrl_pl.video_index", "version": 2, "root": str(kinds), "videos": []}))
    given = tmp_path / "given.json"  # an index path given by hand, still holding an old index
    given.write_text(legacy.read_text())
    said: list[str] = []
    index = load_or_build_index(kinds, workers=1, progress=False, log=said.append)
    new = kinds / ".cvrl_index"
    problem = "a version 2 index (one JSON file, without keyframes)"
    assert said == [
        f"probing every file again: {legacy} is {problem}; the new index is {new} (the old file is removed)"
    ]
    assert not legacy.exists() and VideoIndex.load(new).videos == index.videos
    assert len(probe_counter) == len(KINDS)
    said.clear()
    load_or_build_index(kinds, index_path=given, workers=1, progress=False, log=said.append)
    assert said == [f"probing every file again: {given} is {problem}"] and given.is_dir()


def test_frame_sizes_nvdec_cannot_take_go_to_another_decoder(tmp_path):
    """An odd width or height, or a frame below NVDEC's minimum for the codec, is routed off NVDEC on a GPU that
    decodes the codec: VP9 to DALI's CPU decoder, H.264 to PyAV (dali_pipelines.decoders.nvdec_size_fault)."""
    root = tmp_path / "sizes"
    sizes = {
        "h264_even.mp4": ("h264", 160, 144),
        "vp9_odd_width.webm": ("vp9", 161, 144),  # libx264 writes 4:2:0 at even sizes only
        "h264_below_48x16.mp4": ("h264", 32, 16),
        "vp9_even.webm": ("vp9", 160, 144),
        "vp9_odd_height.webm": ("vp9", 160, 145),
        "vp9_below_minimum.webm": ("vp9", 96, 64),
    }
    for name, (codec, width, height) in sizes.items():
        write_video(root / name, 8, width=width, height=height, codec=codec)
    out = str(tmp_path / "index")
    hopper = run_cli(str(root), "--out", out, "--gpu-capability", "9.0")
    assert hopper["decoders"] == {"nvdec": 2, "dali_cpu": 3, "pyav": 1}
    assert hopper["nvdec_faults"] == {"hidden frames": 0, "no IDR first": 0, "frame size": 4}
    index = VideoIndex.load(out)
    routed = dict(zip((v.path for v in index.videos), video_routes(index, (9, 0)).tolist(), strict=True))
    assert routed == {
        "h264_below_48x16.mp4": 2,
        "h264_even.mp4": 0,
        "vp9_below_minimum.webm": 1,
        "vp9_even.webm": 0,
        "vp9_odd_height.webm": 1,
        "vp9_odd_width.webm": 1,
    }
    assert run_cli(str(root), "--out", out)["decoders"] == {"nvdec": 0, "dali_cpu": 4, "pyav": 2}  # this CPU


# hard video -> (decoder code on a Hopper GPU, why it is kept off NVDEC): dali_pipelines.decoders
HARD_ROUTES = {
    "odd_vp9": (1, ["frame size"]),
    "odd_vp8": (1, ["frame size"]),
    "bt709_h264": (0, []),
    "fullrange_vp9": (0, []),
    "bframes_h264": (0, []),
    "open_gop_h264": (0, []),  # frame 0 is an IDR picture; NVDEC's spans start at one (sparse_video fresh_start)
    "open_gop_start_h264": (2, ["no IDR first"]),
    "mpeg4_avi": (0, []),
    "mpeg4_packed_avi": (0, []),  # the remux unpacks its B-frames
    "vp9_hidden": (1, ["hidden frames"]),
}


def test_hard_videos_are_routed_by_what_their_packets_hold(tmp_path):
    """What only the packets show (hidden VP9 frames, a stream cut at a non-IDR I-frame) keeps a video off NVDEC,
    as the frame size does: found at indexing, reported by reason, routed alike by the loader."""
    root = tmp_path / "hard"
    build_hard_videos(root)
    out = str(tmp_path / "index")
    hopper = run_cli(str(root), "--out", out, "--gpu-capability", "9.0")
    assert hopper["nvdec_faults"] == {"hidden frames": 1, "no IDR first": 1, "frame size": 2}
    assert hopper["decoders"] == {"nvdec": 6, "dali_cpu": 3, "pyav": 1}
    index = VideoIndex.load(out)
    routes = video_routes(index, (9, 0)).tolist()
    found = {
        v.path.rsplit(".", 1)[0]: (code, fault_names(nvdec_faults(v.stream_faults, v.codec, v.width, v.height)))
        for v, code in zip(index.videos, routes, strict=True)
    }
    assert found == HARD_ROUTES
