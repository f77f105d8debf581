"""Each DALI decoder a split uses decodes a built-in clip on the rank's device before the bad-video guard is armed:
a decoder that cannot work stops the run naming it, not the data."""

from __future__ import annotations

import numpy as np
import pytest

from cvrl_pl.data import decoder_check
from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import DALI_CPU, NVDEC, PYAV


@pytest.fixture(autouse=True)
def _fresh():
    """Each test checks anew (the checks are cached per process)."""
    decoder_check._check.cache_clear()
    yield
    decoder_check._check.cache_clear()


def test_the_built_in_clips_decode_on_this_cpu():
    decoder_check.check_decoders(np.array([DALI_CPU, PYAV]), None)  # DALI's CPU decoder really decodes the VP9 clip
    assert (
        decoder_check.probe_clip(NVDEC)[4:8] == b"ftyp" and decoder_check.probe_clip(DALI_CPU)[:4] == b"\x1aE\xdf\xa3"
    )


def test_a_decoder_that_fails_its_clip_stops_the_run_with_dalis_words(monkeypatch):
    monkeypatch.setattr(decoder_check, "probe_clip", lambda decoder: b"\x1aE\xdf\xa3" + bytes(200))  # broken WebM
    with pytest.raises(ConfigError, match=r"^DALI's CPU decoder cannot decode a built-in VP9 clip \(.+\), .*pyav$"):
        decoder_check.check_decoders(np.array([PYAV, DALI_CPU]), None)


def test_nvdec_that_cannot_work_names_nvdec_and_the_fix(monkeypatch):
    said = "Failed to create video decoder"
    monkeypatch.setattr(decoder_check, "decoder_error", lambda clip, frames, decoder, device: said)
    with pytest.raises(ConfigError) as caught:
        decoder_check.check_decoders(np.array([NVDEC, PYAV]), 3)
    message = str(caught.value)
    assert message.startswith(f"NVDEC on cuda:3 cannot decode a built-in H.264 clip ({said})")
    assert "NVIDIA_DRIVER_CAPABILITIES must include video" in message and message.endswith("data.decoder=pyav")


def test_only_the_decoders_a_split_uses_are_checked(monkeypatch):
    checked = []
    monkeypatch.setattr(decoder_check, "decoder_error", lambda clip, frames, decoder, device: checked.append(decoder))
    decoder_check.check_decoders(np.array([PYAV, PYAV]), 0)
    assert checked == []
    decoder_check.check_decoders(np.array([NVDEC, DALI_CPU, NVDEC]), 0)
    decoder_check.check_decoders(np.array([NVDEC]), 0)  # once per process and device
    assert checked == [NVDEC, DALI_CPU]
