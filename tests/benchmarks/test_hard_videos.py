"""The hard videos (benchmarks/hard_videos.py) have the stream features they are named for, as PyAV reads them
back, and decode to the frames they were made from."""

import av
import numpy as np
import pytest

from tests.helpers import ROOT


@pytest.fixture(scope="module")
def hv():
    """The module benchmarks/hard_videos.py, imported as the GPU check imports it (benchmarks/ on sys.path)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(ROOT / "benchmarks"))
        import hard_videos

        yield hard_videos


@pytest.fixture(scope="module")
def videos(hv, tmp_path_factory):
    """Every hard video, built once for this file."""
    return hv.build_all(tmp_path_factory.mktemp("hard_videos"))


def _packets(path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(video=0) if p.size]


def _frames(path, fmt: str = "yuv420p") -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format=fmt) for frame in container.decode(video=0)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_byte_helpers_read_what_they_write(hv):
    packet = hv.vp9_superframe([b"\x82" * 300, b"\x88"])
    assert hv.vp9_frame_sizes(packet) == [300, 1] and packet[300:302] == b"\x88\xd9"  # 0b110 11 001: 4-byte sizes
    assert hv.vp9_frame_sizes(b"\x82\x49\x83" + b"\xc1") == [4]  # a marker-like last byte without an index
    with pytest.raises(ValueError):
        hv.vp9_superframe([b"\x82"])
    avcc = b"\x00\x00\x00\x02\x06\x05" + b"\x00\x00\x00\x03\x65\x88\x80"  # SEI then an IDR slice
    assert hv.h264_nal_types(avcc) == [6, 5]
    assert hv.h264_nal_types(b"\x00\x00\x00\x01\x67\x64\x00\x00\x01\x68\xee\x00\x00\x01\x41\x9a", avcc=False) == [
        7,
        8,
        1,
    ]
    assert hv.mpeg4_vop_count(b"\x00\x00\x01\xb3\x00\x00\x01\xb6\x10\x00\x00\x01\xb6\x50") == 2


def test_every_video_is_built_and_looks_like_its_frames(hv, videos):
    assert sorted(videos) == sorted(hv.HARD_VIDEOS) and len(videos) == 10
    for name, path in videos.items():
        assert path.is_file() and path.stem == name and "\n" not in hv.HARD_VIDEOS[name].what
        decoded = np.stack(_frames(path, "rgb24"))
        first = 12 if name == "open_gop_start_h264" else 0  # cut at the second keyframe, frame 12
        rendered = hv.render(hv.FRAMES, decoded.shape[2], decoded.shape[1])[first:]
        assert len(decoded) == len(rendered), name
        assert _psnr(decoded, rendered) > 25, name  # 26.7 dB (MPEG-4 at qscale 3) to 31.5 dB measured


def test_odd_sizes(videos):
    for name, codec in (("odd_vp9", "vp9"), ("odd_vp8", "vp8")):
        with av.open(str(videos[name])) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream))
            assert (stream.codec_context.name, frame.width, frame.height) == (codec, 63, 47)


def test_colour_tags_and_the_pixels_they_describe(hv, videos):
    with av.open(str(videos["bt709_h264"])) as container:
        ctx = container.streams.video[0].codec_context
        frame = next(container.decode(video=0))
        assert (ctx.profile, ctx.pix_fmt) == ("High", "yuv420p")
        assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range) == (1, 1, 1, 1)  # bt709, tv
        assert (frame.colorspace, frame.color_range) == (1, 1)
        rendered = hv.render(1, 176, 144)[0].astype(np.float64)
        error = np.abs(frame.to_ndarray(format="rgb24") - rendered).mean()  # converted as tagged
        as_bt601 = np.abs(frame.reformat(format="rgb24", src_colorspace="smpte170m").to_ndarray() - rendered).mean()
        assert error < 0.6 * as_bt601  # 2.6 against 5.3 levels measured
    with av.open(str(videos["fullrange_vp9"])) as container:
        ctx = container.streams.video[0].codec_context
        frame = next(container.decode(video=0))
        assert (ctx.name, ctx.color_range, frame.color_range) == ("vp9", 2, 2)  # pc/jpeg
        error = np.abs(frame.to_ndarray(format="rgb24") - rendered).mean()
        as_limited = np.abs(frame.reformat(format="rgb24", src_color_range=1).to_ndarray() - rendered).mean()
        assert error < 0.6 * as_limited  # 2.4 against 7.6 levels measured


def test_bframes_in_closed_gops(hv, videos):
    packets = _packets(videos["bframes_h264"])
    pts = [p.pts for p in packets]
    assert pts != sorted(pts) and sorted(pts) == sorted(set(pts))  # stored out of display order
    keyframes = [k for k, p in enumerate(packets) if p.is_keyframe]
    assert keyframes == [0, 12, 24, 36, 48]
    assert all(hv.NAL_IDR in hv.h264_nal_types(bytes(packets[k])) for k in keyframes)


def test_open_gop_keyframes_are_not_idr(hv, videos):
    packets = _packets(videos["open_gop_h264"])
    types = [hv.h264_nal_types(bytes(p)) for p in packets if p.is_keyframe]
    assert hv.NAL_IDR in types[0]
    recovery = [t for t in types[1:] if hv.NAL_NON_IDR in t and hv.NAL_IDR not in t]
    assert len(recovery) == len(types) - 1 >= 3  # 4 measured


def test_open_gop_start_is_a_cut_at_a_non_idr_keyframe(hv, videos):
    packets = _packets(videos["open_gop_start_h264"])
    first = packets[0]
    assert first.is_keyframe and first.pts == 0 and min(p.pts for p in packets) == 0
    assert hv.NAL_NON_IDR in hv.h264_nal_types(bytes(first)) and hv.NAL_IDR not in hv.h264_nal_types(bytes(first))
    whole, cut = _frames(videos["open_gop_h264"]), _frames(videos["open_gop_start_h264"])
    assert len(cut) == len(whole) - 12 == len(packets)  # the leading B-frames are gone
    assert np.array_equal(np.stack(cut), np.stack(whole[12:]))


def test_mpeg4_packed_bframes(hv, videos):
    unpacked, packed = _packets(videos["mpeg4_avi"]), _packets(videos["mpeg4_packed_avi"])
    pts = [p.pts for p in unpacked]
    assert pts != sorted(pts) and all(hv.mpeg4_vop_count(bytes(p)) == 1 for p in unpacked)
    counts = [hv.mpeg4_vop_count(bytes(p)) for p in packed]
    b_frames = sum(bytes(p)[bytes(p).index(hv.VOP_START) + 4] >> 6 == 2 for p in unpacked)
    assert counts.count(2) == b_frames >= 20 and counts.count(1) == len(counts) - b_frames  # 29 of 60 measured
    with av.open(str(videos["mpeg4_packed_avi"])) as container:
        stream = container.streams.video[0]
        assert hv.USER_DATA_START + hv.DIVX_PACKED in stream.codec_context.extradata
        assert hv.USER_DATA_START + hv.DIVX_PACKED in bytes(packed[0])
        split = av.bitstream.BitStreamFilterContext("mpeg4_unpack_bframes", stream)
        filtered = [out for p in container.demux(stream) for out in split.filter(p)] + split.filter(None)
    assert [hv.mpeg4_vop_count(bytes(p)) for p in filtered] == [1] * len(unpacked)
    # the filter reads DivX's user data: it clears the 'p' (packed) in a packet it passes whole, the first here
    marker, cleared = hv.USER_DATA_START + hv.DIVX_PACKED, hv.USER_DATA_START + hv.DIVX_PACKED[:-1] + b"\0"
    assert cleared in bytes(filtered[0])
    assert [bytes(p).replace(marker, b"").replace(cleared, b"") for p in filtered] == [bytes(p) for p in unpacked]
    frames, reference = _frames(videos["mpeg4_packed_avi"]), _frames(videos["mpeg4_avi"])
    assert len(packed) == len(frames) == len(reference) == hv.FRAMES
    assert np.array_equal(np.stack(frames), np.stack(reference))


def test_vp9_hidden_keyframes_shown_by_show_existing_frame(hv, videos, tmp_path):
    packets = _packets(videos["vp9_hidden"])
    sizes = [hv.vp9_frame_sizes(bytes(p)) for p in packets]
    superframes = [k for k, s in enumerate(sizes) if len(s) > 1]
    assert superframes == [k for k, p in enumerate(packets) if p.is_keyframe][1:] == [12, 24, 36, 48]
    for k in superframes:
        data = bytes(packets[k])
        assert sizes[k][1] == 1 and data[sizes[k][0]] == 0x88  # show_existing_frame of slot 0
        assert data[0] & 0xC6 == 0x80  # frame_marker 10, a keyframe (frame_type 0), show_frame 0
    source = hv.encode(tmp_path / "vp9.webm", "libvpx-vp9", options=hv.VP9_OPTIONS, gop=hv.KEYINT)
    assert all(len(hv.vp9_frame_sizes(bytes(p))) == 1 for p in _packets(source))  # libvpx wrote no superframe
    frames, reference = _frames(videos["vp9_hidden"]), _frames(source)
    assert len(packets) == len(frames) == len(reference) == hv.FRAMES
    assert np.array_equal(np.stack(frames), np.stack(reference))
