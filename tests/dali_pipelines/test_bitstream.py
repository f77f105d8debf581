"""Reading packet headers without decoding: VP9 superframes and show flags, VP8's show_frame, H.264/HEVC IDR
pictures in length-prefixed and start-code streams."""

import pytest

from dali_pipelines.bitstream import mpeg4_pictures, one_picture_shown, starts_afresh, vp9_frames, vp9_shown

# First bytes of VP9 uncompressed headers, profile 0: frame_marker 10, profile 00, then show_existing_frame,
# frame_type, show_frame, error_resilient_mode.
SHOWN_INTER = bytes([0b10000110, 7, 7])  # inter frame, shown
HIDDEN_KEY = bytes([0b10000000, 9])  # keyframe, not shown (an alt-ref made a keyframe)
SHOW_EXISTING = bytes([0b10001000])  # shows the frame in slot 0, decodes nothing


def superframe(*frames: bytes) -> bytes:
    """VP9 frames in one packet with the superframe index (Annex B), sizes in one byte each."""
    marker = 0b11000000 | (len(frames) - 1)
    return b"".join(frames) + bytes([marker, *(len(f) for f in frames), marker])


def test_vp9_superframes_split_into_their_frames():
    packet = superframe(HIDDEN_KEY, SHOWN_INTER)
    assert vp9_frames(packet) == [HIDDEN_KEY, SHOWN_INTER]
    assert vp9_frames(SHOWN_INTER) == [SHOWN_INTER]
    # a last byte that looks like a marker without the index's first marker is frame data
    assert vp9_frames(bytes([0b10000110, 0b11000001])) == [bytes([0b10000110, 0b11000001])]


@pytest.mark.parametrize(
    ("first_byte", "expected"),
    [
        (0b10000110, (False, True)),  # profile 0 inter, shown
        (0b10000100, (False, False)),  # profile 0 inter, hidden (an alt-ref)
        (0b10001000, (True, False)),  # profile 0 show_existing_frame
        (0b10100010, (False, True)),  # profile 1 keyframe, shown
        (0b10010000, (False, False)),  # profile 2 keyframe, hidden
        (0b10110001, (False, True)),  # profile 3 (a reserved bit first): keyframe, shown
        (0b10110100, (True, False)),  # profile 3 show_existing_frame
    ],
)
def test_vp9_show_flags_by_profile(first_byte, expected):
    assert vp9_shown(bytes([first_byte])) == expected


def test_one_picture_shown_per_packet():
    assert one_picture_shown(SHOWN_INTER, "vp9")
    assert not one_picture_shown(superframe(HIDDEN_KEY, SHOW_EXISTING), "vp9")  # two frames in one packet
    assert not one_picture_shown(HIDDEN_KEY, "vp9") and not one_picture_shown(SHOW_EXISTING, "vp9")
    assert one_picture_shown(memoryview(superframe(SHOWN_INTER)), "vp9")  # a one-frame superframe; PyAV's buffers
    # VP8's frame tag: bit 0 inter, bits 1-3 version, bit 4 show_frame
    assert one_picture_shown(bytes([0b00010000, 1, 2]), "vp8") and not one_picture_shown(bytes([0b00000001]), "vp8")
    assert one_picture_shown(bytes([0, 0, 1, 0xB6]), "mpeg4")


AVCC = bytes([1, 100, 0, 31, 0xFF])  # avcC: version 1, ..., lengthSizeMinusOne 3 (4-byte lengths)


def nal_units(*units: bytes, length_size: int = 4) -> bytes:
    return b"".join(len(u).to_bytes(length_size, "big") + u for u in units)


def test_h264_starts_afresh_at_idr_pictures_only():
    sei, idr, non_idr = bytes([0x06, 5, 1]), bytes([0x65, 0x88]), bytes([0x41, 0x9A])  # NAL types 6, 5, 1
    assert starts_afresh(nal_units(sei, idr), "h264", AVCC)
    assert not starts_afresh(nal_units(sei, non_idr), "h264", AVCC)  # an open GOP's recovery-point I-frame
    two_byte = bytes([1, 100, 0, 31, 0xFD])  # 2-byte lengths
    assert starts_afresh(nal_units(idr, length_size=2), "h264", two_byte)
    assert not starts_afresh(nal_units(non_idr, length_size=2), "h264", two_byte)
    annex_b = b"\x00\x00\x00\x01" + sei + b"\x00\x00\x01" + idr
    assert starts_afresh(annex_b, "h264", None) and not starts_afresh(annex_b.replace(idr, non_idr), "h264", None)


def test_hevc_starts_afresh_at_idr_and_bla_not_cra():
    hvcc = bytes([1] + [0] * 20 + [0x0F])  # hvcC: byte 21's low bits are lengthSizeMinusOne (3)
    for nal_type, fresh in ((19, True), (20, True), (16, True), (21, False), (1, False)):
        unit = bytes([nal_type << 1, 1, 0xAF])
        assert starts_afresh(nal_units(unit), "hevc", hvcc) is fresh, nal_type


def test_other_codecs_always_start_afresh():
    assert starts_afresh(b"\x00\x00\x01\xb6", "mpeg4", None) and starts_afresh(SHOWN_INTER, "vp9", None)


def test_mpeg4_pictures_counts_vops_not_other_start_codes():
    vol, vop = b"\x00\x00\x01\x20\x08", b"\x00\x00\x01\xb6\x50\x11"  # a VOL header, a VOP
    assert mpeg4_pictures(vol + vop) == 1 and mpeg4_pictures(vop + vop) == 2 and mpeg4_pictures(vol) == 0
