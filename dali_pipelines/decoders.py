"""Which decoder reads a video: DALI's NVDEC decoder, DALI's CPU decoder, or PyAV in the source workers.

Decided per VIDEO from what the index found in its stream (codec, bit depth, chroma format) and the GPU's compute
capability, so that one undecodable file never sends a whole split to the slow path, and a file NVDEC cannot take
never reaches NVDEC (where it would fail and be reported as damaged). The table is NVIDIA's NVDEC support matrix
(Video Codec SDK application note) narrowed by DALI 2.4's own limits; docs/data_pipeline.md gives each row's source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NVDEC, DALI_CPU, PYAV = 0, 1, 2  # the per-video decoder codes the sources hand to the graph
DECODER_NAMES = ("nvdec", "dali_cpu", "pyav")

# DALI 2.4's CPU decoder: VP8, VP9 and MJPEG only (H.264/HEVC dropped in DALI 2.1.1). Measured here at 8 bits with
# 4:2:0, 4:2:2 (MJPEG) and 4:4:4 (VP9 profile 1); high bit depth is unverified, so it goes to PyAV.
DALI_CPU_CODECS = frozenset({"vp8", "vp9", "mjpeg"})


@dataclass(frozen=True)
class Generation:
    """What NVDEC decodes on one GPU generation: codec -> (deepest bit depth, chroma formats)."""

    name: str
    codecs: dict[str, tuple[int, frozenset[str]]]


_420 = frozenset({"4:2:0"})
_PASCAL = {"h264": (8, _420), "hevc": (12, _420), "mpeg4": (8, _420), "vp8": (8, _420), "vp9": (12, _420)}
_AV1 = {"av1": (10, _420)}
# Blackwell adds H.264 High 10 and 4:2:2 decoding. DALI rejects H.264 4:2:2 (DALI issue 1042) and its 4:2:2 path is
# unverified for HEVC, so 4:2:2 stays with PyAV; 4:4:4 too (H.264: DALI issue 2197; HEVC failed on Ada: 6079).
_BLACKWELL = {**_PASCAL, **_AV1, "h264": (10, _420)}

# (major, minor) compute capability -> generation; a capability between two rows takes the lower one. Rows that
# drop a codec a lower row had (A100 and Hopper have no AV1) are why this is a table, not a threshold.
GENERATIONS: tuple[tuple[tuple[int, int], Generation], ...] = (
    ((5, 0), Generation("Maxwell", {"h264": (8, _420), "mpeg4": (8, _420)})),
    ((6, 0), Generation("Pascal", _PASCAL)),
    ((7, 0), Generation("Volta", _PASCAL)),
    ((7, 5), Generation("Turing", _PASCAL)),  # HEVC 4:4:4 decodes from Turing on, but failed in DALI (issue 6079)
    ((8, 0), Generation("Ampere GA100 (A100)", _PASCAL)),  # no AV1
    ((8, 6), Generation("Ampere GA10x", {**_PASCAL, **_AV1})),
    ((8, 9), Generation("Ada", {**_PASCAL, **_AV1})),
    ((9, 0), Generation("Hopper (H100, H200)", _PASCAL)),  # no AV1
    ((10, 0), Generation("Blackwell", _BLACKWELL)),
)


def parse_capability(text: str) -> tuple[int, int]:
    """'9.0' -> (9, 0); ValueError for anything else."""
    major, dot, minor = text.strip().partition(".")
    if not (major.isdigit() and (not dot or minor.isdigit())):
        raise ValueError(f"a compute capability is MAJOR.MINOR, like 9.0; got {text!r}")
    return int(major), int(minor or 0)


def generation(capability: tuple[int, int]) -> Generation:
    """The NVDEC generation of a GPU with this compute capability."""
    below = [gen for cc, gen in GENERATIONS if cc <= tuple(capability)]
    if not below:
        raise ValueError(f"compute capability {capability} predates NVDEC's support for DALI (5.0 or later)")
    return below[-1]


# The smallest frame NVDEC takes, per codec (width, height): DALI stops on a smaller one ("Video is too small",
# cuvidGetDecoderCaps' nMinWidth / nMinHeight), and every such video would be reported as damaged. 48x16 for H.264
# and MPEG-4 part 2 is what an RTX 3050 reports (nvdecinfo's output in github.com/philipl/nv-video-info pull 7);
# no figure for the other codecs was found, so they take 144x144, the largest minimum reported for HEVC: a video that
# NVDEC could take may go to another decoder, never the other way. The GPU check has not read them on a GPU yet.
NVDEC_MIN_SIZE = {"h264": (48, 16), "mpeg4": (48, 16)}
NVDEC_MIN_SIZE_OTHERWISE = (144, 144)


def nvdec_minimum(codec: str) -> tuple[int, int]:
    """The smallest (width, height) NVDEC takes for ``codec`` (NVDEC_MIN_SIZE)."""
    return NVDEC_MIN_SIZE.get(codec, NVDEC_MIN_SIZE_OTHERWISE)


# Why a video stays off NVDEC, as the bits of one small number: found in its packets at indexing (bitstream.py) or
# from its frame size. docs/data_pipeline.md, "What each decoder receives", says why each one matters.
HIDDEN_FRAMES = 1  # a VP8/VP9 packet that decodes a picture it does not show, or shows one it does not decode
NO_FRESH_START = 2  # an H.264/HEVC stream whose first picture is no IDR (cut from an open GOP)
FRAME_SIZE = 4  # nvdec_size_fault
NVDEC_FAULTS = {HIDDEN_FRAMES: "hidden frames", NO_FRESH_START: "no IDR first", FRAME_SIZE: "frame size"}


def nvdec_size_fault(width, height, minimum) -> np.ndarray:
    """Whether a frame size keeps a video off NVDEC (scalars, or one value per video, ``minimum`` then (N, 2)): an
    odd width or height (DALI's GPU colour conversion writes 2x2 blocks without a bounds check, so it would write
    past the frame), or a side below NVDEC's ``minimum`` for the codec (nvdec_minimum)."""
    width, height, minimum = np.asarray(width), np.asarray(height), np.asarray(minimum)
    return ((width | height) & 1).astype(bool) | (width < minimum[..., 0]) | (height < minimum[..., 1])


def nvdec_faults(stream_faults, codec, width, height) -> int:
    """One video's NVDEC fault bits: those its packets showed at indexing and FRAME_SIZE if its size is one."""
    return int(stream_faults) | FRAME_SIZE * bool(nvdec_size_fault(width, height, nvdec_minimum(codec)))


def fault_names(faults: int) -> list[str]:
    """The reasons (NVDEC_FAULTS) of a video's fault bits."""
    return [name for bit, name in NVDEC_FAULTS.items() if faults & bit]


def decoder_for(codec: str, bit_depth: int, chroma: str, capability: tuple[int, int] | None, *, faults: int = 0) -> int:
    """The decoder code of one video: NVDEC when the GPU's generation decodes it and nothing keeps it off NVDEC
    (``faults``: NVDEC_FAULTS bits; never on a CPU, ``capability=None``), else DALI's CPU decoder for 8-bit
    VP8/VP9/MJPEG, else PyAV."""
    if capability is not None and not faults:
        deepest, chromas = generation(capability).codecs.get(codec, (0, frozenset()))
        if bit_depth <= deepest and chroma in chromas:
            return NVDEC
    if codec in DALI_CPU_CODECS and bit_depth == 8:
        return DALI_CPU
    return PYAV


def routes(formats: list[dict], capability: tuple[int, int] | None) -> np.ndarray:
    """The decoder code of each stream format (a dict with its ``codec``, ``bit_depth``, ``chroma`` and NVDEC
    ``faults``) on that device: the routing of every video of that format, computed once per format."""
    return np.asarray(
        [decoder_for(f["codec"], f["bit_depth"], f["chroma"], capability, faults=f["faults"]) for f in formats],
        np.int8,
    )


CODES_PER_BYTE = 4  # decoder codes are 0..2: two bits each
_PACK_CHUNK = 1 << 22  # codes packed per step (a multiple of CODES_PER_BYTE): no index-long temporaries


class DecoderCodes:
    """Per-video decoder codes packed four to a byte. The sources are pickled into every DALI worker: 70.7M videos
    (Panda-70M) cost a worker 17.7 MB this way, 70.7 MB as one int8 code each."""

    def __init__(self, codes: np.ndarray):
        self.n = len(codes)
        self.packed = np.empty(-(-self.n // CODES_PER_BYTE), np.uint8)
        present = np.zeros(len(DECODER_NAMES), bool)
        for start in range(0, self.n, _PACK_CHUNK):
            chunk = np.asarray(codes[start : start + _PACK_CHUNK], np.uint8)
            present |= np.bincount(chunk, minlength=len(DECODER_NAMES)) > 0
            padded = np.zeros(-(-len(chunk) // CODES_PER_BYTE) * CODES_PER_BYTE, np.uint8)
            padded[: len(chunk)] = chunk
            quads = padded.reshape(-1, CODES_PER_BYTE)
            byte = quads[:, 0] | quads[:, 1] << 2 | quads[:, 2] << 4 | quads[:, 3] << 6
            first = start // CODES_PER_BYTE
            self.packed[first : first + len(byte)] = byte
        self.present = frozenset(np.flatnonzero(present).tolist())

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, vid: int) -> int:
        if not 0 <= vid < self.n:
            raise IndexError(f"video {vid} of {self.n}")
        return int(self.packed[vid // CODES_PER_BYTE] >> (2 * (vid % CODES_PER_BYTE))) & 3

    def uses(self, code: int) -> bool:
        """Whether any video goes to decoder ``code``."""
        return code in self.present


def decoder_codes(decoders: str | np.ndarray | DecoderCodes, n: int) -> DecoderCodes:
    """Per-video decoder codes (packed) from per-video codes or one decoder name for all ``n`` videos."""
    if isinstance(decoders, DecoderCodes):
        if len(decoders) != n:
            raise ValueError(f"expected {n} decoder codes, got {len(decoders)}")
        return decoders
    if isinstance(decoders, str):
        if decoders not in DECODER_NAMES:
            raise ValueError(f"decoder must be one of {', '.join(DECODER_NAMES)}, got {decoders!r}")
        return DecoderCodes(np.broadcast_to(np.int8(DECODER_NAMES.index(decoders)), (n,)))
    codes = np.asarray(decoders, np.int8)
    if codes.shape != (n,) or (n and not NVDEC <= codes.min() <= codes.max() <= PYAV):
        raise ValueError(f"expected {n} decoder codes in {{0, 1, 2}}, got {codes!r}")
    return DecoderCodes(codes)


def decoder_counts(codes: np.ndarray) -> dict[str, int]:
    """Decoder name -> how many videos it reads (every name, zeros included)."""
    return {name: int((np.asarray(codes) == code).sum()) for code, name in enumerate(DECODER_NAMES)}


def counts_text(counts: dict[str, int]) -> str:
    """{"nvdec": 3, "dali_cpu": 0, "pyav": 1} -> "nvdec 3, dali_cpu 0, pyav 1"."""
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def decoders_where(capability: tuple[int, int] | None) -> str:
    """Where the decoder counts hold: "on a CPU", "on a GPU of compute capability 9.0 (Hopper (H100, H200))"."""
    if capability is None:
        return "on a CPU"
    return "on a GPU of compute capability {}.{} ({})".format(*capability, generation(capability).name)
