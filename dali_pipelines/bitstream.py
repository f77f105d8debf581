"""What a video packet's first and last bytes say, read without decoding: whether an H.264/HEVC decoder starts
afresh at it, and whether a VP8/VP9 packet decodes exactly one picture and shows it.

DALI's NVDEC decoder needs both (docs/data_pipeline.md, "What each decoder receives"): it gives each decoded picture
the next packet's timestamp, so a packet with a hidden picture (a VP9 alt-ref frame in a superframe, a VP8 alt-ref)
or with none (VP9's show_existing_frame) shifts every frame after it; and it gets H.264 parameter sets only before
IDR pictures, so a stream it is handed must start at one.
"""

from __future__ import annotations

# NAL unit types where an H.264 / HEVC decoder starts afresh mid-stream: IDR (5); BLA and IDR (16-20). A keyframe
# of an open GOP (a recovery-point I-frame, an HEVC CRA) starts FFmpeg's decoder well at the start of a stream, but
# after other frames the decoder takes it for a continuation and drops frames (seen with FFmpeg's H.264 decoder);
# and h264_mp4toannexb puts the parameter sets only before IDR pictures, so NVDEC cannot start at one.
_FRESH_START = {"h264": (lambda b: b & 0x1F, {5}), "hevc": (lambda b: (b >> 1) & 0x3F, set(range(16, 21)))}


def nal_headers(data: bytes, length_size: int | None) -> list[int]:
    """The first byte of each NAL unit of a packet: length-prefixed (MP4, Matroska) or with start codes (None)."""
    heads, i = [], 0
    if length_size is None:  # Annex B: 00 00 01 before each unit
        while (i := data.find(b"\x00\x00\x01", i)) >= 0 and i + 3 < len(data):
            heads.append(data[i + 3])
            i += 3
        return heads
    while i + length_size < len(data):
        size = int.from_bytes(data[i : i + length_size], "big")
        heads.append(data[i + length_size])
        i += length_size + size
    return heads


def starts_afresh(data: bytes, codec: str, extradata: bytes | None) -> bool:
    """Whether a decoder handed this packet (a keyframe) after other frames, or first, starts afresh at it: always,
    but for the open-GOP keyframes of H.264 and HEVC. ``extradata``: the stream's avcC / hvcC, if any."""
    if codec not in _FRESH_START:
        return True
    kind, fresh = _FRESH_START[codec]
    length_size = None
    if extradata and extradata[0] == 1:  # avcC / hvcC: units carry a length prefix of this many bytes
        length_size = (extradata[4 if codec == "h264" else 21] & 3) + 1
    return any(kind(b) in fresh for b in nal_headers(bytes(data), length_size))


def vp9_frames(data: bytes) -> list[bytes]:
    """The frames of a VP9 packet: those of its superframe (VP9 bitstream spec, Annex B: the frame sizes in an
    index at the end, between two equal marker bytes 0b110xxxxx), else the packet itself."""
    marker = data[-1] if data else 0
    if marker & 0xE0 == 0xC0:
        size_bytes, count = ((marker >> 3) & 3) + 1, (marker & 7) + 1
        index = 2 + size_bytes * count
        if len(data) >= index and data[-index] == marker:
            frames, at = [], 0
            for k in range(count):
                start = len(data) - index + 1 + k * size_bytes
                size = int.from_bytes(data[start : start + size_bytes], "little")
                frames.append(data[at : at + size])
                at += size
            return frames
    return [data]


def vp9_shown(frame: bytes) -> tuple[bool, bool]:
    """(show_existing_frame, show_frame) of one VP9 frame, from its uncompressed header's first byte: frame_marker
    (2 bits), profile_low_bit, profile_high_bit, a reserved bit in profile 3, show_existing_frame, frame_type,
    show_frame."""
    byte = frame[0]
    profile = (byte >> 4 & 1) << 1 | (byte >> 5 & 1)
    bit = 2 if profile == 3 else 3  # where show_existing_frame is
    show_existing = bool((byte >> bit) & 1)
    return show_existing, (not show_existing) and bool((byte >> (bit - 2)) & 1)


VOP_START = b"\x00\x00\x01\xb6"  # MPEG-4 part 2: each picture (VOP) begins with this start code


def mpeg4_pictures(data: bytes) -> int:
    """How many pictures (VOPs) an MPEG-4 part 2 packet holds: two in DivX's packed B-frames (a P- or I-picture
    and the B-picture shown before it), whose next packet is a not-coded placeholder; one otherwise."""
    return bytes(data).count(VOP_START)


def one_picture_shown(data: bytes, codec: str) -> bool:
    """Whether a packet decodes exactly one picture and shows it (checked for VP8 and VP9; the other codecs' streams
    as our remux writes them hold one picture a packet: MPEG-4 part 2's packed B-frames are unpacked there)."""
    if codec == "vp9":
        frames = vp9_frames(data)
        return len(frames) == 1 and vp9_shown(frames[0]) == (False, True)
    if codec == "vp8":  # frame tag (RFC 6386, 9.1): show_frame is bit 4 of the first byte
        return bool(data[0] >> 4 & 1)
    return True
