"""The index on disk: its format and version, the schema of its tables (videos, dirs, excluded), and the records of
one video (what probing finds in it, and a usable video as the index holds it)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from cvrl_pl.data.index.columns import Spec

# Version 2 added each video's stream format (profile, pixel format, bit depth, chroma), which decoder routing
# needs; version 3 is the columnar folder with each video's keyframes. An index of another version is never misread
# but probed again, with a message saying why (build.load_or_build_index). Version 4 added what keeps a video off
# NVDEC that only its packets show (hidden VP8/VP9 frames, an H.264/HEVC stream starting at no IDR picture).
# Version 5 added the offset of a tar shard's member (layout webdataset) and where each keyframe's packet lies in
# the file, which lets a sample fetch its byte ranges from object storage at once (packets.byte_ranges).
FORMAT_VERSION = 5
FORMAT_NAME = "cvrl_pl.video_index"
DEFAULT_INDEX_NAME = ".cvrl_index"  # a folder
CATEGORIES = ("codec", "profile", "pix_fmt", "chroma")  # strings stored as small codes into a vocabulary
KEYFRAME_COLUMNS = ("keyframes", "keyframe_pts", "keyframe_pos", "keyframe_bytes")  # one value per keyframe
CHUNK = 1 << 20  # videos per step of a whole-index computation, which then needs no index-long temporaries

SCHEMA = {
    "videos": {
        "dir": Spec("<i4"),  # row of the dirs table
        "name": Spec("u1", ragged=True),  # file name in its folder
        "label": Spec("<i4"),
        "num_frames": Spec("<i4"),
        "fps": Spec("<f8"),
        "width": Spec("<i4"),
        "height": Spec("<i4"),
        **{name: Spec("<i2") for name in CATEGORIES},
        "bit_depth": Spec("<i2"),
        "stream_faults": Spec("<i2"),  # dali_pipelines.decoders' NVDEC fault bits found in the packets
        "size": Spec("<i8"),
        "mtime_ns": Spec("<i8"),  # of the file, or of the shard holding the member
        "offset": Spec("<i8"),  # a tar member's data offset in its shard (path "<shard>/<member>"); -1 a file
        "keyframes": Spec("<i4", ragged=True),  # display indices of the keyframes
        "keyframe_pts": Spec("<i8", ragged=True),  # their timestamps in the stream's time base
        "keyframe_pos": Spec("<i8", ragged=True),  # their packets' byte offsets in the file (-1: not known)
        "keyframe_bytes": Spec("<i4", ragged=True),  # their packets' sizes
        "data_end": Spec("<i8"),  # where the last video packet ends (a container's index may follow); -1: not known
    },
    "dirs": {"name": Spec("u1", ragged=True)},  # folder of videos, relative to the root ("" for the root itself)
    "excluded": {
        "path": Spec("u1", ragged=True),
        "reason": Spec("u1", ragged=True),
        "size": Spec("<i8"),  # -1: not a file
        "mtime_ns": Spec("<i8"),
        "info": Spec("u1", ragged=True),  # a too-short video's probe as JSON, else empty
    },
}


@dataclass(frozen=True)
class VideoInfo:
    """What probing a readable video finds."""

    num_frames: int
    fps: float
    codec: str
    width: int
    height: int
    profile: str
    pix_fmt: str
    bit_depth: int
    chroma: str
    keyframes: tuple[int, ...] = ()  # display indices of the frames a decoder can start at (the first is 0)
    keyframe_pts: tuple[int, ...] = ()  # their timestamps, to seek the demuxer to them
    stream_faults: int = 0  # what in the packets keeps the video off NVDEC: decoders.HIDDEN_FRAMES, NO_FRESH_START
    keyframe_pos: tuple[int, ...] = ()  # where their packets lie in the file (bytes), for ranged reads
    keyframe_bytes: tuple[int, ...] = ()  # and their sizes
    data_end: int = -1  # the end of the last video packet in the file


@dataclass
class VideoRecord:
    """One usable video: where it is, its label, what probing found in it, and the file's stat when probed."""

    path: str  # relative to the index root, POSIX separators; a shard's member: "<shard>/<member>"
    label: int  # class id, -1 when unlabelled
    num_frames: int  # counted, never estimated from duration
    fps: float
    codec: str  # FFmpeg codec name: "vp9", "vp8", "h264", "hevc", "mjpeg", ...
    width: int
    height: int
    profile: str  # FFmpeg's name of the codec profile: "High", "High 10", "High 4:4:4 Predictive", "Profile 2", ...
    pix_fmt: str  # of the decoded frames: "yuv420p", "yuv420p10le", "yuvj422p", ...
    bit_depth: int  # bits per luma sample
    chroma: str  # chroma subsampling: "4:2:0", "4:2:2", "4:4:4", "4:0:0" (grey), "rgb", ...
    size: int  # bytes on disk (of the member, in a shard)
    mtime_ns: int  # of the file, or of its shard
    keyframes: tuple[int, ...] = ()
    keyframe_pts: tuple[int, ...] = ()
    stream_faults: int = 0
    keyframe_pos: tuple[int, ...] = ()
    keyframe_bytes: tuple[int, ...] = ()
    data_end: int = -1
    offset: int = -1  # a tar member's data offset in its shard; -1 for a file

    def info(self) -> VideoInfo:
        """What probing found in this video."""
        return VideoInfo(**{f.name: getattr(self, f.name) for f in fields(VideoInfo)})


def index_description(root: str, classes: list[str], **options) -> dict:
    """An index's meta: format, version, root, classes, and ``options`` (layout, lists, min_frames, verify)."""
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "root": root, "classes": list(classes), **options}
