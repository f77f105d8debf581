"""An MP4 counted from its header: the packets mp4_header.py reads from the moov box are FFmpeg's, packet by packet
(timestamps with the edit list applied, keyframes, byte offsets, sizes), on the MP4 and MOV files users have; a
probe that takes them finds exactly what demuxing every packet finds, reading a few KiB of a member on a server;
what the header does not say plainly (no MP4, a cut download, fragments) is demuxed as before."""

from __future__ import annotations

import av
import pytest

from benchmarks.object_store import http_server
from cvrl_pl.data.index import probe
from cvrl_pl.data.index.mp4_header import track_packets
from cvrl_pl.data.index.probe import probe_video
from dali_pipelines import storage
from tests.helpers.videos import write_video

FILES = {
    "h264": {"codec": "h264", "gop": 10},
    "h264_bframes": {"codec": "h264", "gop": 12, "bframes": 2},  # an edit list: FFmpeg's timestamps start at 0
    "h264_audio_first": {"codec": "h264", "gop": 10, "audio_first": True},
    "hevc": {"codec": "hevc"},
    "h264_10bit": {"codec": "h264", "pix_fmt": "yuv420p10le"},
    "prores_mov": {"codec": "prores"},
    "h264_faststart": {"codec": "h264", "gop": 10, "faststart": True},
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mp4")
    out = {}
    for name, kwargs in FILES.items():
        ext = ".mov" if kwargs["codec"] == "prores" else ".mp4"
        out[name] = write_video(folder / f"{name}{ext}", 36, **kwargs)
    return out


def _demuxed(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size and not p.is_corrupt]
        return (
            [p.pts if p.pts is not None else p.dts for p in packets],
            [i for i, p in enumerate(packets) if p.is_keyframe],
            [p.pos for p in packets],
            [p.size for p in packets],
        )


@pytest.mark.parametrize("name", FILES)
def test_the_header_lists_the_packets_ffmpeg_demuxes(videos, name):
    with open(videos[name], "rb") as f:
        found = track_packets(f)
    assert found is not None
    stamps, keys, positions, sizes = _demuxed(videos[name])
    assert found.stamps.tolist() == stamps and found.keys.tolist() == keys
    assert found.positions.tolist() == positions and found.sizes.tolist() == sizes


@pytest.mark.parametrize("name", FILES)
def test_a_probe_from_the_header_finds_what_demuxing_finds(videos, name, monkeypatch):
    from_header = probe_video(videos[name])
    monkeypatch.setattr(probe, "track_packets", lambda file: None)
    assert probe_video(videos[name]) == from_header and from_header.num_frames == 36


def test_a_member_on_a_server_is_probed_from_a_few_kib(tmp_path):
    """A 600-frame MP4 as a member of a shard on a web server: the probe reads its header and first frame, not its
    packets."""
    path = write_video(tmp_path / "long.mp4", 600, width=160, height=128, codec="h264", gop=50, faststart=True)
    data = path.read_bytes()
    (tmp_path / "shard.tar").write_bytes(b"\0" * 1536 + data)
    with http_server(tmp_path) as url:
        before = storage.COUNTS["bytes"]
        info = probe_video(storage.Member(f"{url}/shard.tar", "long.mp4", 1536, len(data)))
        read = storage.COUNTS["bytes"] - before
    assert info == probe_video(path)
    assert info.num_frames == 600 and info.keyframes == tuple(range(0, 600, 50))
    assert read <= 4 * probe.PROBE_BLOCK < len(data) / 3, (read, len(data))  # demuxing reads every packet


def test_what_the_header_does_not_say_plainly_is_demuxed(tmp_path, monkeypatch):
    data = write_video(tmp_path / "whole.mp4", 36, codec="h264", gop=10, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"  # a download cut inside its last packets: the header lists more than the file has
    cut.write_bytes(data[: len(data) - 200])
    with open(cut, "rb") as f:
        assert track_packets(f) is not None and probe._whole_header(f) is None
    found = probe_video(cut)
    assert found.num_frames < 36  # the packets the cut took are not counted
    monkeypatch.setattr(probe, "track_packets", lambda file: None)
    assert probe_video(cut) == found
    webm = write_video(tmp_path / "v.webm", 12, codec="vp9")
    with open(webm, "rb") as f:
        assert track_packets(f) is None  # no MP4
