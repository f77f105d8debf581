"""Hard videos: the stream features real datasets contain that NVIDIA's GPU decoder (through DALI) can get wrong.

Each builder writes one small video of natural-looking frames (a smooth gradient and a textured square moving a few
pixels a frame, the same for a seed), so that the PSNR between two decoders of it means something. Some features no
encoder reachable from PyAV writes; those videos are built from another's packets, as each builder's docstring says.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 25
FRAMES = 60
SIZE = (176, 144)  # width, height: QCIF, above every NVDEC minimum
KEYINT = 12

# H.264 NAL unit types (ITU-T H.264 table 7-1)
NAL_NON_IDR, NAL_IDR = 1, 5
# MPEG-4 part 2 start codes (ISO/IEC 14496-2 table 6-3)
VOP_START = b"\x00\x00\x01\xb6"
USER_DATA_START = b"\x00\x00\x01\xb2"
GOV_START = b"\x00\x00\x01\xb3"
# DivX 5's user data for packed B-frames: FFmpeg's decoder reads "DivX%db%d%c" and sets divx_packed on a final 'p'
DIVX_PACKED = b"DivX503b1393p"
VP9_SHOW_FRAME = 0x02  # in the first byte of a profile 0 frame header
VP9_SHOW_SLOT_0 = b"\x88"  # frame_marker 10, profile 00, show_existing_frame 1, frame_to_show_map_idx 000


@dataclass(frozen=True)
class HardVideo:
    """One hard video: its name, what makes it hard and for which decoder, and the function that writes it."""

    name: str
    what: str
    build: Callable[[Path], Path]  # writes the video into the given folder, returns its path


def render(num_frames: int, width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """Frames (N, H, W, 3) uint8: a smooth colour gradient and a textured square moving 2-3 pixels a frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    tilt, phase = rng.uniform(0.3, 1.0, size=(3, 1, 1)), rng.uniform(0, 2 * np.pi, size=(3, 1, 1))
    background = 128 + 60 * np.sin(np.pi * (tilt * xx + yy) + phase)  # (3, H, W)
    side = max(4, min(width, height) // 3)
    blocks = rng.uniform(40, 220, size=(3, side // 4 + 1, side // 4 + 1))
    stripes = 25 * np.sin(np.arange(side) / 2.0)
    texture = np.kron(blocks, np.ones((4, 4)))[:, :side, :side] + stripes[None, :, None]
    start = rng.uniform(0, [height - side, width - side])
    velocity = rng.choice([-1, 1], size=2) * rng.uniform(2, 3, size=2)
    out = np.repeat(background[None], num_frames, axis=0)
    for k in range(num_frames):
        y, x = (_bounce(start + velocity * k, np.array([height - side, width - side]))).astype(int)
        out[k, :, y : y + side, x : x + side] = texture
    return np.ascontiguousarray(out.clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1))


def _bounce(position: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """``position`` reflected into [0, limit] (a triangle wave), so the square bounces off the frame's edges."""
    phase = np.mod(position, 2 * limit)
    return limit - np.abs(phase - limit)


@dataclass(frozen=True)
class Colour:
    """How RGB frames become YUV and how the stream is tagged: FFmpeg's AVColorSpace/Primaries/Transfer/Range."""

    space: int = 6  # SMPTE 170M (BT.601), swscale's default matrix
    primaries: int = 6
    transfer: int = 6
    range: int = 1  # 1 limited (MPEG, tv), 2 full (JPEG, pc)
    matrix: str = "smpte170m"  # swscale's name for ``space``


BT601 = Colour()
BT709 = Colour(space=1, primaries=1, transfer=1, matrix="itu709")
BT601_FULL = Colour(range=2)


def encode(
    path: Path,
    encoder: str,
    *,
    size: tuple[int, int] = SIZE,
    options: dict[str, str] | None = None,
    colour: Colour = BT601,
    gop: int | None = None,
    max_b_frames: int | None = None,
    codec_tag: str | None = None,
) -> Path:
    """Write ``render(FRAMES, *size)`` with PyAV's ``encoder`` at FPS frames a second, converted to 8-bit 4:2:0 and
    tagged as ``colour`` says; returns ``path``."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(encoder, rate=FPS)
        ctx = stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.colorspace, ctx.color_range = colour.space, colour.range
        ctx.color_primaries, ctx.color_trc = colour.primaries, colour.transfer
        if gop is not None:
            ctx.gop_size = gop
        if max_b_frames is not None:
            ctx.max_b_frames = max_b_frames
        if codec_tag is not None:
            ctx.codec_tag = codec_tag
        stream.options = options or {}
        for image in render(FRAMES, width, height):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=colour.matrix, dst_color_range=colour.range
            )
            frame.colorspace, frame.color_range = colour.space, colour.range
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


VP9_OPTIONS = {"crf": "20", "b:v": "0", "deadline": "good", "cpu-used": "4", "lag-in-frames": "0"}
X264_OPTIONS = {"preset": "fast", "crf": "18", "profile": "high"}


def _odd_vp9(folder: Path) -> Path:
    """VP9 at 63x47."""
    return encode(folder / "odd_vp9.webm", "libvpx-vp9", size=(63, 47), options=VP9_OPTIONS)


def _odd_vp8(folder: Path) -> Path:
    """VP8 at 63x47."""
    options = {"crf": "10", "b:v": "1M", "deadline": "good", "cpu-used": "4", "lag-in-frames": "0"}
    return encode(folder / "odd_vp8.webm", "libvpx", size=(63, 47), options=options)


def _bt709_h264(folder: Path) -> Path:
    """H.264 High 4:2:0, limited range, converted and tagged BT.709 (matrix, primaries and transfer)."""
    return encode(folder / "bt709_h264.mp4", "libx264", options=X264_OPTIONS, colour=BT709)


def _fullrange_vp9(folder: Path) -> Path:
    """VP9 in full (pc/jpeg) range with the BT.601 matrix, tagged so."""
    return encode(folder / "fullrange_vp9.webm", "libvpx-vp9", options=VP9_OPTIONS, colour=BT601_FULL)


def _bframes_h264(folder: Path) -> Path:
    """H.264 High with 3 B-frames in a row (b-adapt off), closed GOPs of 12 frames."""
    params = f"bframes=3:b-adapt=0:keyint={KEYINT}:min-keyint={KEYINT}:scenecut=0"
    return encode(folder / "bframes_h264.mp4", "libx264", options={**X264_OPTIONS, "x264-params": params})


def _open_gop_h264(folder: Path) -> Path:
    """H.264 with open GOPs: a keyframe every 12 frames, those after the first recovery-point I-frames, not IDR."""
    params = f"open-gop=1:keyint={KEYINT}:min-keyint={KEYINT}:scenecut=0:bframes=3:b-adapt=0"
    return encode(folder / "open_gop_h264.mp4", "libx264", options={**X264_OPTIONS, "x264-params": params})


def _open_gop_start_h264(folder: Path) -> Path:
    """``open_gop_h264`` stream-copied from its second keyframe (a non-IDR I-frame), as video2dataset cuts clips:
    the B-frames stored after that keyframe but shown before it are dropped, and timestamps start at 0."""
    with tempfile.TemporaryDirectory() as tmp:
        return cut_at_keyframe(_open_gop_h264(Path(tmp)), folder / "open_gop_start_h264.mp4", index=1)


def cut_at_keyframe(source: Path, dest: Path, *, index: int) -> Path:
    """Copy ``source``'s video packets (no re-encoding) from its keyframe packet number ``index`` on, less those
    shown before it, with the timestamps shifted so that the keyframe is shown at 0; returns ``dest``."""
    with av.open(str(source)) as src, av.open(str(dest), "w") as out:
        stream = src.streams.video[0]
        copy = out.add_stream_from_template(stream)
        packets = [p for p in src.demux(stream) if p.size]
        first = [i for i, p in enumerate(packets) if p.is_keyframe][index]
        start = packets[first].pts
        for packet in packets[first:]:
            if packet.pts < start:
                continue
            packet.pts, packet.dts = packet.pts - start, packet.dts - start
            packet.stream = copy
            out.mux(packet)
    return dest


def _mpeg4_avi(folder: Path) -> Path:
    """MPEG-4 part 2 (FFmpeg's encoder) with B-frames, unpacked, in AVI tagged XVID."""
    return encode(
        folder / "mpeg4_avi.avi", "mpeg4", options={"qscale": "3"}, gop=KEYINT, max_b_frames=1, codec_tag="XVID"
    )


def _mpeg4_packed_avi(folder: Path) -> Path:
    """``mpeg4_avi`` with DivX-style packed B-frames, made from its packets: no encoder in PyAV writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        return pack_bframes(_mpeg4_avi(Path(tmp)), folder / "mpeg4_packed_avi.avi")


def pack_bframes(source: Path, dest: Path) -> Path:
    """Rewrite ``source``'s MPEG-4 part 2 packets as DivX 5 packs B-frames: each B-VOP appended to the packet of the
    I- or P-VOP stored before it, a not-coded N-VOP in its own slot, and DivX's user data that says 'packed'."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        packets = [bytes(p) for p in src.demux(stream) if p.size]
        time_bits = _vop_time_increment_bits(stream.codec_context.extradata)
        slots: list[bytes] = []
        for data in packets:
            if _vop_coding_type(data) == "B":
                slots[-1] += data
                slots.append(_n_vop(_vop_time_increment(data, time_bits), time_bits))
            else:
                slots.append(_with_divx_user_data(data))
        with av.open(str(dest), "w") as out:
            copy = out.add_stream_from_template(stream)
            copy.codec_context.extradata = _with_divx_user_data(stream.codec_context.extradata)
            for k, data in enumerate(slots):
                packet = av.Packet(data)
                packet.pts = packet.dts = k
                packet.duration, packet.time_base, packet.stream = 1, Fraction(1, FPS), copy
                packet.is_keyframe = _vop_coding_type(data) == "I"
                out.mux(packet)
    return dest


def mpeg4_vop_count(data: bytes) -> int:
    """How many VOPs (MPEG-4 part 2 pictures) ``data`` holds: its VOP start codes (start codes cannot be emulated)."""
    return data.count(VOP_START)


def _vop_coding_type(data: bytes) -> str:
    """'I', 'P', 'B' or 'S': the coding type of the first VOP in ``data``."""
    return "IPBS"[data[data.index(VOP_START) + 4] >> 6]


def _with_divx_user_data(data: bytes) -> bytes:
    """``data`` with DivX's packed user data put after its VOL header, before the GOV or first VOP; data without a
    VOL header (00 00 01 2x) unchanged."""
    if not any(b"\x00\x00\x01" + bytes([code]) in data for code in range(0x20, 0x30)):
        return data
    at = min(i for i in (data.find(GOV_START), data.find(VOP_START), len(data)) if i >= 0)
    return data[:at] + USER_DATA_START + DIVX_PACKED + data[at:]


class _Bits:
    """An MSB-first bit reader over bytes."""

    def __init__(self, data: bytes, at: int = 0) -> None:
        self.value, self.left = int.from_bytes(data, "big"), 8 * len(data) - 8 * at

    def read(self, n: int) -> int:
        """The next ``n`` bits as an unsigned integer."""
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)


def _vop_time_increment_bits(headers: bytes) -> int:
    """Bits of a VOP's vop_time_increment: enough for the VOL's vop_time_increment_resolution - 1, at least one
    (ISO/IEC 14496-2 6.2.3; ``headers`` holds a VOL header)."""
    starts = [i for i in range(len(headers) - 3) if headers[i : i + 3] == b"\x00\x00\x01" and headers[i + 3] >> 4 == 2]
    bits = _Bits(headers, starts[0] + 4)
    bits.read(1 + 8)  # random_accessible_vol, video_object_type_indication
    if bits.read(1):  # is_object_layer_identifier
        bits.read(4 + 3)  # video_object_layer_verid, video_object_layer_priority
    if bits.read(4) == 0xF:  # aspect_ratio_info: extended PAR
        bits.read(8 + 8)
    if bits.read(1):  # vol_control_parameters
        bits.read(2 + 1)  # chroma_format, low_delay
        if bits.read(1):  # vbv_parameters
            bits.read(15 + 1 + 15 + 1 + 15 + 1 + 3 + 11 + 1 + 15 + 1)
    bits.read(2 + 1)  # video_object_layer_shape (rectangular: no shape_extension), marker
    resolution = bits.read(16)
    return max(1, (resolution - 1).bit_length())


def _vop_time_increment(data: bytes, time_bits: int) -> int:
    """The vop_time_increment of the first VOP in ``data``."""
    bits = _Bits(data, data.index(VOP_START) + 4)
    bits.read(2)  # vop_coding_type
    while bits.read(1):  # modulo_time_base: ones, then a zero
        pass
    bits.read(1)  # marker
    return bits.read(time_bits)


def _n_vop(time_increment: int, time_bits: int) -> bytes:
    """A not-coded P-VOP (vop_coded 0: "repeat the last picture"), DivX's placeholder for a B-frame packed before,
    ending in MPEG-4 stuffing (a 0 then 1s to the byte boundary)."""
    bits = "01" + "0" + "1" + format(time_increment, f"0{time_bits}b") + "1" + "0"
    bits += "0" + "1" * (-(len(bits) + 1) % 8)
    return VOP_START + int(bits, 2).to_bytes(len(bits) // 8, "big")


def _vp9_hidden(folder: Path) -> Path:
    """VP9 whose keyframes after the first are hidden, each shown by a show_existing_frame, built from packets:
    libvpx's one-pass mode through PyAV writes no hidden (alt-ref) frames, 0 superframes measured with auto-alt-ref=1
    and lag-in-frames=25, and PyAV cannot run libvpx's two passes (it does not expose stats_out)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = encode(Path(tmp) / "vp9.webm", "libvpx-vp9", options=VP9_OPTIONS, gop=KEYINT)
        return hide_keyframes(source, folder / "vp9_hidden.webm")


def hide_keyframes(source: Path, dest: Path) -> Path:
    """Copy ``source``'s VP9 packets, each keyframe after the first replaced by a superframe of that keyframe with
    show_frame cleared and a one-byte frame showing reference slot 0 (which a keyframe refreshes); returns ``dest``."""
    with av.open(str(source)) as src, av.open(str(dest), "w") as out:
        stream = src.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for k, packet in enumerate(p for p in src.demux(stream) if p.size):
            if k and packet.is_keyframe:
                frame = bytes(packet)
                if len(vp9_frame_sizes(frame)) != 1 or frame[0] & 0xF0 != 0x80:
                    raise ValueError("expected a single profile 0 VP9 frame in each keyframe packet")
                hidden = av.Packet(vp9_superframe([bytes([frame[0] & ~VP9_SHOW_FRAME]) + frame[1:], VP9_SHOW_SLOT_0]))
                hidden.pts, hidden.dts, hidden.duration = packet.pts, packet.dts, packet.duration
                hidden.time_base, hidden.is_keyframe = packet.time_base, True
                packet = hidden
            packet.stream = copy
            out.mux(packet)
    return dest


def vp9_frame_sizes(data: bytes) -> list[int]:
    """The sizes of the frames in a VP9 packet: those of its superframe index (VP9 spec Annex B), or its own size."""
    marker = data[-1] if data else 0
    if marker & 0xE0 != 0xC0:
        return [len(data)]
    width, count = ((marker >> 3) & 3) + 1, (marker & 7) + 1
    index = 2 + width * count
    if len(data) < index or data[-index] != marker:
        return [len(data)]
    sizes = data[-index + 1 : -1]
    return [int.from_bytes(sizes[i * width : (i + 1) * width], "little") for i in range(count)]


def vp9_superframe(frames: list[bytes]) -> bytes:
    """One VP9 packet holding ``frames`` (2 to 8): the frames then the superframe index, with 4-byte sizes."""
    if not 2 <= len(frames) <= 8:
        raise ValueError(f"a superframe holds 2 to 8 frames, not {len(frames)}")
    marker = bytes([0xC0 | (3 << 3) | (len(frames) - 1)])
    sizes = b"".join(len(frame).to_bytes(4, "little") for frame in frames)
    return b"".join(frames) + marker + sizes + marker


def h264_nal_types(data: bytes, *, avcc: bool = True) -> list[int]:
    """The NAL unit types in an H.264 packet: ``avcc`` with 4-byte big-endian lengths (MP4), else Annex B (start
    codes 00 00 01 or 00 00 00 01)."""
    if avcc:
        types, at = [], 0
        while at + 4 < len(data):
            length = int.from_bytes(data[at : at + 4], "big")
            types.append(data[at + 4] & 0x1F)
            at += 4 + length
        return types
    return [data[m.end()] & 0x1F for m in re.finditer(b"\x00\x00\x01(?=.)", data, re.DOTALL)]


HARD_VIDEOS: dict[str, HardVideo] = {
    name: HardVideo(name, what, build)
    for name, what, build in (
        ("odd_vp9", "VP9 at 63x47: odd sides, and DALI's GPU colour kernel writes 2x2 blocks unchecked", _odd_vp9),
        ("odd_vp8", "VP8 at 63x47: odd sides, and DALI's GPU colour kernel writes 2x2 blocks unchecked", _odd_vp8),
        ("bt709_h264", "H.264 tagged BT.709: a decoder that assumes BT.601 shifts the colours", _bt709_h264),
        (
            "fullrange_vp9",
            "VP9 in full range: a decoder that assumes limited range stretches the levels",
            _fullrange_vp9,
        ),
        ("bframes_h264", "H.264 with B-frames: decode order differs from display order", _bframes_h264),
        ("open_gop_h264", "H.264 open GOPs: keyframes after the first are I-frames, not IDR", _open_gop_h264),
        (
            "open_gop_start_h264",
            "H.264 whose first frame is a non-IDR I-frame (a stream-copy cut): a decoder waiting for an IDR drops it",
            _open_gop_start_h264,
        ),
        ("mpeg4_avi", "MPEG-4 part 2 with B-frames in AVI, as UCF-101 and HMDB-51 ship", _mpeg4_avi),
        (
            "mpeg4_packed_avi",
            "MPEG-4 part 2 with DivX packed B-frames: two VOPs in a packet, then an N-VOP the decoder must drop",
            _mpeg4_packed_avi,
        ),
        (
            "vp9_hidden",
            "VP9 superframes of a hidden keyframe and a show_existing_frame: two frames in a packet, one shown",
            _vp9_hidden,
        ),
    )
}


def build_all(folder: Path) -> dict[str, Path]:
    """Write every hard video into ``folder`` (created if missing); returns each one's path by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {name: video.build(folder) for name, video in HARD_VIDEOS.items()}
