"""Each DALI decoder a split uses decodes a built-in clip on the rank's device before the bad-video guard is armed,
remuxed as training remuxes a sample's packets: a decoder that cannot work, or returns other frames than PyAV, stops
the run naming it, not the data."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import av
import numpy as np
import pytest
from av.video.frame import PictureType

from cvrl_pl.data import decoder_check
from cvrl_pl.data.index.probe import probe_file
from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import DALI_CPU, NVDEC, PYAV
from dali_pipelines.packets import spans, sparse_video
from dali_pipelines.pyav_decode import decode_pyav


@pytest.fixture(autouse=True)
def _fresh():
    """Each test checks anew (the checks are cached per process)."""
    decoder_check._check.cache_clear()
    yield
    decoder_check._check.cache_clear()


EBML = b"\x1aE\xdf\xa3"  # a Matroska / WebM stream's first bytes


def test_the_built_in_clips_decode_on_this_cpu():
    decoder_check.check_decoders(np.array([DALI_CPU, PYAV]), None)  # DALI's CPU decoder really decodes the VP9 clip
    assert decoder_check.probe_clip(NVDEC)[4:8] == b"ftyp" and decoder_check.probe_clip(DALI_CPU)[:4] == EBML


@pytest.mark.parametrize("decoder", [NVDEC, DALI_CPU])
def test_the_built_in_clips_have_several_keyframes_and_the_h264_one_b_frames(decoder):
    """So that the wanted frames span three parts of the remuxed stream, as a training sample's clips do."""
    clip = decoder_check.probe_clip(decoder)
    info = probe_file(io.BytesIO(clip))
    assert info.num_frames == 16 and info.keyframes == (0, 4, 8, 12)
    assert spans(decoder_check.PROBE_WANTED, np.array(info.keyframes)) == [(0, 2), (8, 9), (12, 13)]
    with av.open(io.BytesIO(clip)) as container:
        kinds = {PictureType(frame.pict_type) for frame in container.decode(video=0)}
    assert (PictureType.B in kinds) == (decoder == NVDEC)


def _damaged(change):
    """sparse_video, its result passed through ``change`` (SparseVideo -> SparseVideo)."""
    return lambda *args, **kwargs: change(sparse_video(*args, **kwargs))


def test_a_decoder_that_fails_the_remuxed_clip_stops_the_run_with_dalis_words(monkeypatch):
    cut = _damaged(lambda sparse: replace(sparse, data=sparse.data[: len(sparse.data) // 3]))  # a truncated stream
    monkeypatch.setattr(decoder_check, "sparse_video", cut)
    with pytest.raises(ConfigError, match=r"^DALI's CPU decoder cannot decode a built-in VP9 clip \(.+\), .*pyav$"):
        decoder_check.check_decoders(np.array([PYAV, DALI_CPU]), None)


def test_a_decoder_that_returns_other_frames_than_pyav_stops_the_run(monkeypatch):
    shifted = _damaged(lambda sparse: replace(sparse, frames=sparse.frames - 1))  # each frame's neighbour
    monkeypatch.setattr(decoder_check, "sparse_video", shifted)
    with pytest.raises(ConfigError) as caught:
        decoder_check.check_decoders(np.array([DALI_CPU]), None)
    message = str(caught.value)
    assert message.startswith("DALI's CPU decoder decodes frames [1, 2, 9, 13] of a built-in VP9 clip, remuxed")
    mean = float(re.search(r"wrongly \((\d+\.\d) levels from PyAV's frames on average, over 2\)", message)[1])
    assert mean > 4  # neighbouring frames differ by about 6 levels
    assert message.endswith("data.decoder=pyav")


def test_nvdec_is_handed_the_remuxed_packets_and_its_frames_compared(monkeypatch):
    handed = {}

    def nvdec(encoded, frames, decoder, device_id):
        handed.update(encoded=encoded, frames=frames, decoder=decoder, device_id=device_id)
        return decode_pyav(encoded.tobytes(), frames)  # what a decoder that works returns

    monkeypatch.setattr(decoder_check, "dali_frames", nvdec)
    decoder_check.check_decoders(np.array([NVDEC, PYAV]), 3)
    assert handed["encoded"][:4].tobytes() == EBML and handed["encoded"].dtype == np.uint8  # Matroska, not the MP4
    assert len(handed["encoded"]) < len(decoder_check.probe_clip(NVDEC))
    # The wanted frames' places in the remuxed stream: frames 0-3 (2 needs the P-frame 3 after its B-frames), 8-9
    # and 12-13 are kept, so 1, 2, 9 and 13 are its frames 1, 2, 5 and 7.
    assert handed["frames"].tolist() == [1, 2, 5, 7] and handed["decoder"] == NVDEC and handed["device_id"] == 3

    decoder_check._check.cache_clear()
    monkeypatch.setattr(decoder_check, "dali_frames", lambda *args: np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(ConfigError, match=r"^NVDEC on cuda:3 decodes frames \[1, 2, 9, 13\] of a built-in H.264"):
        decoder_check.check_decoders(np.array([NVDEC]), 3)


def test_nvdec_that_cannot_work_names_nvdec_and_the_fix(monkeypatch):
    said = "Failed to create video decoder"

    def fails(encoded, frames, decoder, device_id):
        raise RuntimeError(said)

    monkeypatch.setattr(decoder_check, "dali_frames", fails)
    with pytest.raises(ConfigError) as caught:
        decoder_check.check_decoders(np.array([NVDEC, PYAV]), 3)
    message = str(caught.value)
    assert message.startswith(f"NVDEC on cuda:3 cannot decode a built-in H.264 clip ({said})")
    assert "NVIDIA_DRIVER_CAPABILITIES must include video" in message and message.endswith("data.decoder=pyav")


def test_only_the_decoders_a_split_uses_are_checked(monkeypatch):
    checked = []

    def decodes(encoded, frames, decoder, device_id):
        checked.append(decoder)
        return decode_pyav(encoded.tobytes(), frames)

    monkeypatch.setattr(decoder_check, "dali_frames", decodes)
    decoder_check.check_decoders(np.array([PYAV, PYAV]), 0)
    assert checked == []
    decoder_check.check_decoders(np.array([NVDEC, DALI_CPU, NVDEC]), 0)
    decoder_check.check_decoders(np.array([NVDEC]), 0)  # once per process and device
    assert checked == [NVDEC, DALI_CPU]
