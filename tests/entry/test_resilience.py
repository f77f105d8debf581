"""Never lose a run: SIGKILL mid-epoch and SIGUSR1 both resume exactly, checkpoint writes are atomic, and a
non-finite loss stops the run naming the step while keeping the last good checkpoint."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from cvrl_pl.config import load_config
from cvrl_pl.runtime.checkpoint_io import AtomicCheckpointIO
from cvrl_pl.train import EXIT_PREEMPTED, run
from dali_pipelines.plan import EpochPlan
from tests.helpers import ROOT
from tests.helpers.damage import damage_payload

NUM_VIDEOS, BATCH = 16, 2  # 8 steps an epoch
MAX_STEPS = 20


@pytest.fixture(scope="module")
def videos(class_videos):
    return class_videos(NUM_VIDEOS)  # 20 frames of 40 x 32 each, in two classes


def _command(videos, out, *extra):
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "--config",
        "conf/generated.yaml",
        "data.source=video",
        f"data.root={videos}",
        "data.num_frames=4",
        "data.crop_size=32",
        f"data.batch_size={BATCH}",
        "data.num_workers=1",  # a DALI Python worker process: it must survive the signals too
        "model.base_channels=8",
        "model.proj_hidden_dim=32",
        f"trainer.max_steps={MAX_STEPS}",
        "trainer.checkpoint_every_n_steps=1",
        "trainer.log_every_n_steps=1",
        "trainer.trace_batches=true",
        f"trainer.output_dir={out}",
        "trainer.run_name=r",
        *extra,
    ]


def _trace(run_dir):
    path = run_dir / "trace" / "rank0.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _start_and_wait(cmd, run_dir, step):
    """Start ``cmd`` in its own process group; return it once its trace shows ``step`` trained."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while not any(r["step"] >= step for r in _trace(run_dir)):
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "training did not reach the step in time"
        time.sleep(0.05)
    return proc


def _step(ckpt_path):
    return torch.load(ckpt_path, map_location="cpu", weights_only=False)["global_step"]


def _expected_ids(step):
    """The videos an uninterrupted run trains on at ``step``: the epoch plan's batch."""
    epoch, b = divmod(step, NUM_VIDEOS // BATCH)
    return EpochPlan(NUM_VIDEOS, 1, 0, BATCH, epoch=epoch, seed=0).items()[b * BATCH : (b + 1) * BATCH].tolist()


def _check_resumed_exactly(first, second, saved):
    """The rerun starts at the saved step, trains every later step once, on the batches an uninterrupted run reads;
    steps the killed run had already trained past its checkpoint are redone identically."""
    assert [r["step"] for r in second] == list(range(saved, MAX_STEPS))
    for r in first + second:
        assert r["video_ids"] == _expected_ids(r["step"]), r
    redone = {r["step"]: r for r in first if r["step"] >= saved}
    for r in second:
        if r["step"] in redone:
            assert r["loss"] == pytest.approx(redone[r["step"]]["loss"], rel=1e-5)


def test_sigkill_mid_epoch_then_rerun_resumes_from_the_saved_step(videos, tmp_path):
    cmd, run_dir = _command(videos, tmp_path), tmp_path / "r"
    proc = _start_and_wait(cmd, run_dir, step=10)  # epoch 1, batch 2
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _trace(run_dir)
    saved = _step(run_dir / "checkpoints" / "last.ckpt")
    assert 10 <= saved < MAX_STEPS and saved % 8 != 0  # mid-epoch
    assert len(first) >= saved

    (run_dir / "trace" / "rank0.jsonl").unlink()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from a checkpoint that ended before the epoch ended" not in done.stderr  # the loader resumes
    assert _step(run_dir / "checkpoints" / "last.ckpt") == MAX_STEPS
    _check_resumed_exactly(first, _trace(run_dir), saved)


def test_sigusr1_saves_a_checkpoint_and_exits_then_rerun_resumes(videos, tmp_path):
    cmd, run_dir = _command(videos, tmp_path, "trainer.checkpoint_every_n_steps=0"), tmp_path / "r"
    proc = _start_and_wait(cmd, run_dir, step=3)
    os.killpg(proc.pid, signal.SIGUSR1)  # the whole process group, as Slurm signals every process of a step
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == EXIT_PREEMPTED, out[-3000:]
    first = _trace(run_dir)
    saved = _step(run_dir / "checkpoints" / "last.ckpt")
    # Saved at the end of the last step trained (no periodic checkpoints here), and nothing trained after it.
    assert saved == len(first) == first[-1]["step"] + 1 >= 4
    assert f"preempted: saved {run_dir / 'checkpoints' / 'last.ckpt'} at step {saved}" in out
    assert "Rerun the same command to resume" in out

    (run_dir / "trace" / "rank0.jsonl").unlink()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_resumed_exactly(first, _trace(run_dir), saved)


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, path)

    def dies_half_way(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    kept = torch.load(path, weights_only=False)
    assert kept["global_step"] == 1 and torch.equal(kept["w"], torch.ones(3))

    io.save_checkpoint({"global_step": 3, "w": torch.zeros(3)}, path)  # the leftover .partial is overwritten
    assert torch.load(path, weights_only=False)["global_step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from cvrl_pl.callbacks.finite_loss import NonFiniteLossError
    from cvrl_pl.losses import NTXentLoss

    calls = {"n": 0}
    compute = NTXentLoss.compute

    def nan_at_step_5(self, z1, z2):
        out = compute(self, z1, z2)
        calls["n"] += 1
        return out._replace(loss=out.loss * float("nan")) if calls["n"] == 6 else out

    monkeypatch.setattr(NTXentLoss, "compute", nan_at_step_5)
    cfg = load_config(
        ROOT / "conf" / "generated.yaml",
        [
            "data.num_frames=4",
            "data.crop_size=32",
            "data.batch_size=4",
            "data.num_workers=0",
            "data.generated.num_videos=40",
            "data.generated.size=40",
            "model.base_channels=8",
            "model.proj_hidden_dim=32",
            "trainer.max_steps=9",
            "trainer.checkpoint_every_n_steps=1",
            "trainer.log_every_n_steps=4",  # the loss is read on the host every 4 steps and before each save
            "trainer.accelerator=cpu",
            f"trainer.output_dir={tmp_path}",
        ],
    )
    with pytest.raises(NonFiniteLossError, match=r"not finite \(NaN or inf\) at step 5 \(epoch 0\)") as error:
        run(cfg)
    last = tmp_path / cfg.trainer.run_name / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint, {last}, is kept" in str(error.value)
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 5  # the weights step 5 started from; its NaN update was never saved
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_sigkill_with_a_video_that_breaks_resumes_exactly(videos, tmp_path):
    """A video whose payload breaks after its first frames is found, reported and left out in epoch 0; killed in
    epoch 1 and rerun, the run still trains every good video's batches exactly as the epoch plan says, and the
    steps it redoes fill the bad video's place as the killed run did."""
    data = tmp_path / "data"
    shutil.copytree(videos, data)
    damage_payload(videos / "class0" / "v00.webm", data / "class0" / "v00.webm", from_frame=2)  # video id 0
    cmd, run_dir = _command(data, tmp_path), tmp_path / "r"
    proc = _start_and_wait(cmd, run_dir, step=10)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first, saved = _trace(run_dir), _step(run_dir / "checkpoints" / "last.ckpt")
    (run_dir / "trace" / "rank0.jsonl").unlink()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    second = _trace(run_dir)
    assert [r["step"] for r in second] == list(range(saved, MAX_STEPS))
    reports = [json.loads(line) for line in (run_dir / "bad_videos.jsonl").read_text().splitlines()]
    assert [(r["path"], r["epoch"]) for r in reports] == [(str(data / "class0" / "v00.webm"), 0)]  # once
    for r in first + second:
        expected = _expected_ids(r["step"])
        assert 0 not in r["video_ids"] or r["step"] < 8  # left out after epoch 0 found it (not even as a filler)
        assert [v for v, e in zip(r["video_ids"], expected, strict=True) if e != 0] == [e for e in expected if e != 0]
    redone = {r["step"]: r for r in first if r["step"] >= saved}
    for r in second:
        if r["step"] in redone:
            assert r["video_ids"] == redone[r["step"]]["video_ids"]
            assert r["loss"] == pytest.approx(redone[r["step"]]["loss"], rel=1e-5)
