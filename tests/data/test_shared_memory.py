"""Shared memory is checked before the pipelines start: what the workers pass through /dev/shm (files for DALI,
decoded frames for PyAV) against what it holds, with the numbers and the fixes in the error."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cvrl_pl.data import shared_memory
from cvrl_pl.data.index import VideoIndex, VideoRecord
from cvrl_pl.data.index.store import write_index
from cvrl_pl.errors import ConfigError
from dali_pipelines.decoders import DALI_CPU, PYAV
from tests.helpers import ROOT
from tests.helpers.videos import write_video

MIB = 2**20


def _index(tmp: Path) -> VideoIndex:
    """Two 4 MiB VP9 files and two 340x256 H.264 files of 1 MiB."""
    videos = [
        VideoRecord(f"v{i}", 0, 250, 25.0, codec, 340, 256, "", "yuv420p", 8, "4:2:0", size, 0)
        for i, (codec, size) in enumerate([("vp9", 4 * MIB), ("vp9", 4 * MIB), ("h264", MIB), ("h264", MIB)])
    ]
    return write_index(tempfile.mkdtemp(dir=tmp), videos, root="/data", classes=["c"], layout="folder")


def test_a_sample_is_the_file_for_dali_and_the_frames_for_pyav(tmp_path):
    codes = np.array([DALI_CPU, DALI_CPU, PYAV, PYAV])
    assert shared_memory.sample_bytes(_index(tmp_path), codes, 32).tolist() == [4 * MIB] * 2 + [340 * 256 * 3 * 32] * 2


def test_a_pipeline_that_outgrows_dev_shm_stops_with_the_numbers_and_the_fixes(tmp_path, monkeypatch):
    codes = np.array([DALI_CPU, DALI_CPU, PYAV, PYAV])  # the largest samples: 32 frames of 340x256, 8.0 MiB
    args = {"frames_per_sample": 32, "batch_size": 2, "py_workers": 2, "prefetch": 2, "ranks_per_node": 2}
    monkeypatch.setattr(shared_memory, "shm_capacity", lambda: 64 * MIB)  # Docker's default
    with pytest.raises(ConfigError) as caught:
        shared_memory.check_shared_memory(_index(tmp_path), codes, **args)
    assert str(caught.value) == (
        "/data: the input pipelines may need 127.5 MiB of shared memory, but /dev/shm holds 64.0 MiB "
        "((data.num_workers 2 + prefetch 2) batches x 15.9 MiB for 2 of the largest samples x 2 rank(s) on this "
        "node; the largest sample is 8.0 MiB). Give the container more (docker run --shm-size=160m), or lower "
        "data.num_workers or the batch per rank (data.batch_size, or more devices)"
    )
    monkeypatch.setattr(shared_memory, "shm_capacity", lambda: 256 * MIB)
    shared_memory.check_shared_memory(_index(tmp_path), codes, **args)  # fits
    monkeypatch.setattr(shared_memory, "shm_capacity", lambda: MIB)
    shared_memory.check_shared_memory(
        _index(tmp_path), codes, **{**args, "py_workers": 0}
    )  # no workers: nothing shared


def _train_with_shm(size: str, *args: str) -> subprocess.CompletedProcess:
    """train.py in a mount namespace of its own whose /dev/shm is a tmpfs of ``size``, as in a container."""
    command = " ".join([sys.executable, str(ROOT / "train.py"), *args])
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size={size} tmpfs /dev/shm && exec {command}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_training_stops_before_the_first_batch_when_dev_shm_is_too_small(tmp_path):
    root = tmp_path / "data"
    for c in range(2):
        for i in range(3):
            write_video(root / f"c{c}" / f"v{i}.mp4", 24, codec="h264")  # PyAV: decoded frames cross /dev/shm
    common = [
        "--config conf/generated.yaml data.source=video",
        f"data.root={root} trainer.output_dir={tmp_path}",
        "data.num_frames=4 data.stride=2 data.crop_size=32 data.batch_size=4 data.num_workers=2",
        "model.proj_hidden_dim=64 trainer.max_steps=1 trainer.checkpoint_every_n_steps=0",
    ]
    small = _train_with_shm("1m", *common, "trainer.run_name=small")
    # 4 samples x 2 clips x 4 frames x 64x48x3 = 288 KiB a batch, x (2 workers + 2 prefetch) = 1.1 MiB > 1 MiB
    assert small.returncode == 2, small.stderr[-2000:]
    assert "the input pipelines may need 1.1 MiB of shared memory, but /dev/shm holds 1.0 MiB" in small.stderr
    assert "--shm-size=" in small.stderr and "Worker data receiving interrupted" not in small.stderr
    assert not (tmp_path / "small" / "checkpoints" / "last.ckpt").exists()
    roomy = _train_with_shm("64m", *common, "trainer.run_name=roomy")
    assert roomy.returncode == 0, roomy.stderr[-2000:]
    assert (tmp_path / "roomy" / "checkpoints" / "last.ckpt").is_file()
