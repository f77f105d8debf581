"""The per-video decoder routing table: NVDEC by GPU generation and DALI's limits, DALI's CPU decoder, PyAV."""

import pickle

import numpy as np
import pytest

from dali_pipelines.decoders import (
    _PACK_CHUNK,
    DALI_CPU,
    FRAME_SIZE,
    HIDDEN_FRAMES,
    NO_FRESH_START,
    NVDEC,
    PYAV,
    decoder_codes,
    decoder_counts,
    decoder_for,
    fault_names,
    generation,
    nvdec_faults,
    nvdec_minimum,
    nvdec_size_fault,
    parse_capability,
)

HOPPER, BLACKWELL, BLACKWELL_RTX, A100, ADA, TURING = (9, 0), (10, 0), (12, 0), (8, 0), (8, 9), (7, 5)

# (codec, bit depth, chroma) -> decoder on a Hopper GPU (H100/H200), on a Blackwell GPU, and on a CPU
CASES = [
    (("h264", 8, "4:2:0"), NVDEC, NVDEC, PYAV),  # the usual Kinetics file; DALI's CPU decoder lacks H.264
    (("h264", 10, "4:2:0"), PYAV, NVDEC, PYAV),  # High 10: Blackwell's NVDEC only
    (("h264", 8, "4:2:2"), PYAV, PYAV, PYAV),  # NVDEC on Blackwell, but DALI rejects H.264 4:2:2
    (("h264", 8, "4:4:4"), PYAV, PYAV, PYAV),  # DALI rejects H.264 4:4:4
    (("hevc", 8, "4:2:0"), NVDEC, NVDEC, PYAV),
    (("hevc", 10, "4:2:0"), NVDEC, NVDEC, PYAV),  # Main 10
    (("hevc", 8, "4:4:4"), PYAV, PYAV, PYAV),  # failed in DALI on Ada
    (("av1", 8, "4:2:0"), PYAV, NVDEC, PYAV),  # Hopper has no AV1 decoding
    (("vp9", 8, "4:2:0"), NVDEC, NVDEC, DALI_CPU),
    (("vp9", 8, "4:4:4"), DALI_CPU, DALI_CPU, DALI_CPU),  # profile 1: no NVDEC; DALI's CPU decoder reads it
    (("vp9", 10, "4:2:0"), NVDEC, NVDEC, PYAV),  # profile 2: high bit depth unverified on DALI's CPU decoder
    (("vp8", 8, "4:2:0"), NVDEC, NVDEC, DALI_CPU),
    (("mjpeg", 8, "4:2:2"), DALI_CPU, DALI_CPU, DALI_CPU),  # DALI 2.4's GPU decoder has MJPEG commented out
    (("mpeg4", 8, "4:2:0"), NVDEC, NVDEC, PYAV),  # UCF-101 and HMDB-51's AVI files
    (("msmpeg4v3", 8, "4:2:0"), PYAV, PYAV, PYAV),  # no NVDEC codec
]


@pytest.mark.parametrize(("stream", "hopper", "blackwell", "cpu"), CASES)
def test_each_video_goes_to_a_decoder_that_reads_it(stream, hopper, blackwell, cpu):
    assert decoder_for(*stream, HOPPER) == hopper
    assert decoder_for(*stream, BLACKWELL) == decoder_for(*stream, BLACKWELL_RTX) == blackwell
    assert decoder_for(*stream, None) == cpu


def test_generations_that_drop_a_codec_a_lower_one_has():
    av1 = ("av1", 8, "4:2:0")
    assert [decoder_for(*av1, cc) for cc in (TURING, A100, (8, 6), ADA, HOPPER)] == [PYAV, PYAV, NVDEC, NVDEC, PYAV]
    assert generation((8, 7)).name == "Ampere GA10x" and generation((9, 0)).name == "Hopper (H100, H200)"
    assert decoder_for("vp9", 8, "4:2:0", (5, 2)) == DALI_CPU  # Maxwell: no VP9 on NVDEC, DALI's CPU decoder then
    with pytest.raises(ValueError, match="predates"):
        generation((3, 5))


def test_capabilities_parse_and_codes_check():
    assert parse_capability("9.0") == (9, 0) and parse_capability(" 12 ") == (12, 0)
    for bad in ("9,0", "Hopper", "9.x", ""):
        with pytest.raises(ValueError, match="MAJOR.MINOR"):
            parse_capability(bad)
    assert [decoder_codes("pyav", 3)[v] for v in range(3)] == [PYAV] * 3
    with pytest.raises(ValueError, match="one of nvdec, dali_cpu, pyav"):
        decoder_codes("dali", 2)
    with pytest.raises(ValueError, match="expected 2 decoder codes"):
        decoder_codes(np.array([0, 3]), 2)
    assert decoder_counts(np.array([2, 2, 1])) == {"nvdec": 0, "dali_cpu": 1, "pyav": 2}


@pytest.mark.parametrize("n", [1, 4, 7, 2 * _PACK_CHUNK + 5])
def test_packed_decoder_codes_read_back_every_video_at_a_quarter_byte_each(n):
    codes = np.random.default_rng(n).integers(NVDEC, PYAV + 1, n).astype(np.int8)
    packed = decoder_codes(codes, n)
    assert packed.packed.nbytes == -(-n // 4)  # what a worker receives pickled: a quarter of a byte a video
    rows = np.unique(np.r_[0, n - 1, np.random.default_rng(0).integers(0, n, 2000)])
    assert [packed[int(v)] for v in rows] == codes[rows].tolist()
    assert len(pickle.dumps(packed)) < n // 4 + 400
    assert {c for c in (NVDEC, DALI_CPU, PYAV) if packed.uses(c)} == set(np.unique(codes).tolist())
    with pytest.raises(IndexError, match=f"video {n} of {n}"):
        packed[n]
    uniform = decoder_codes("dali_cpu", n)
    assert uniform[n - 1] == DALI_CPU and not uniform.uses(NVDEC) and decoder_codes(uniform, n) is uniform


def test_frame_sizes_nvdec_cannot_take():
    assert nvdec_minimum("h264") == (48, 16) and nvdec_minimum("hevc") == (144, 144)  # unknown: the largest reported
    sizes = np.array([[340, 256], [341, 256], [340, 255], [47, 16], [48, 16], [48, 15]])
    faults = nvdec_size_fault(sizes[:, 0], sizes[:, 1], np.array([nvdec_minimum("h264")] * len(sizes)))
    assert faults.tolist() == [False, True, True, True, False, True]
    assert bool(nvdec_size_fault(142, 144, nvdec_minimum("vp9"))) and not nvdec_size_fault(144, 144, (144, 144))
    assert nvdec_faults(0, "h264", 341, 256) == FRAME_SIZE and nvdec_faults(HIDDEN_FRAMES, "vp9", 160, 144) == 1
    assert fault_names(nvdec_faults(NO_FRESH_START, "vp9", 63, 47)) == ["no IDR first", "frame size"]
    # any fault keeps a video off NVDEC only: VP9 then goes to DALI's CPU decoder, H.264 to PyAV
    for fault in (HIDDEN_FRAMES, NO_FRESH_START, FRAME_SIZE):
        assert decoder_for("vp9", 8, "4:2:0", HOPPER, faults=fault) == DALI_CPU
        assert decoder_for("h264", 8, "4:2:0", HOPPER, faults=fault) == PYAV
    assert decoder_for("h264", 8, "4:2:0", HOPPER) == NVDEC
