"""How a rank decodes a split: the decoder each video gets on each device, and DALI's threads."""

import tempfile
from pathlib import Path

import pytest

from cvrl_pl.config import ConfigError
from cvrl_pl.data import decoding
from cvrl_pl.data.decoding import choose_decoders
from cvrl_pl.data.index import VideoIndex, VideoRecord
from cvrl_pl.data.index.store import write_index
from dali_pipelines.decoders import DALI_CPU, NVDEC, PYAV


def _index(tmp: Path, *streams: tuple[str, int, str]) -> VideoIndex:
    """An index of videos with these (codec, bit depth, chroma) streams."""
    videos = [
        VideoRecord(f"v{i}", 0, 40, 25.0, codec, 320, 240, "", "", bits, chroma, 100, 0)
        for i, (codec, bits, chroma) in enumerate(streams)
    ]
    return write_index(tempfile.mkdtemp(dir=tmp), videos, root="/data", classes=["c"], layout="folder")


def test_decoder_choice_is_per_video(tmp_path):
    index = _index(tmp_path, ("h264", 8, "4:2:0"), ("vp9", 8, "4:2:0"), ("av1", 8, "4:2:0"), ("mjpeg", 8, "4:2:2"))
    assert choose_decoders("auto", index, None).tolist() == [PYAV, DALI_CPU, PYAV, DALI_CPU]  # a CPU
    assert choose_decoders("auto", index, (9, 0)).tolist() == [NVDEC, NVDEC, PYAV, DALI_CPU]  # H100/H200
    assert choose_decoders("auto", index, (8, 9)).tolist() == [NVDEC, NVDEC, NVDEC, DALI_CPU]  # Ada decodes AV1
    assert choose_decoders("pyav", index, (9, 0)).tolist() == [PYAV] * 4
    with pytest.raises(ConfigError, match=r"data.decoder=dali: 1 of 4 videos .* on a GPU of compute capability 9.0 "):
        choose_decoders("dali", index, (9, 0))
    with pytest.raises(ConfigError, match=r"2 of 4 videos of /data are not decodable by DALI on a CPU: v0 \(h264"):
        choose_decoders("dali", index, None)
    ucf = _index(tmp_path, ("mpeg4", 8, "4:2:0"), ("msmpeg4v3", 8, "4:2:0"))  # AVI files of UCF-101 and HMDB-51
    assert choose_decoders("auto", ucf, (9, 0)).tolist() == [NVDEC, PYAV]


def test_dali_threads_auto_keeps_nvdec_busy_within_the_ranks_cores(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.setattr(decoding.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert decoding.dali_threads("auto", None, 1) == 2  # a CPU: as before
    assert decoding.dali_threads("auto", 0, 1) == 8  # one rank on 16 cores: one thread per NVDEC engine and one more
    assert decoding.dali_threads("auto", 0, 4) == 4  # four ranks share the 16 cores
    assert decoding.dali_threads("auto", 0, 16) == 2  # never fewer than 2
    assert decoding.dali_threads("6", 0, 4) == 6  # a number is taken as given
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "16")  # Slurm gave this task its own 16 cores
    assert decoding.dali_threads("auto", 0, 4) == 8
