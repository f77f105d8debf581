"""The project's own sbatch script on a REAL two-node Slurm cluster (tests/helpers/slurm_cluster.py): 2 nodes x
1 task, gloo, DALI on CPU. Both ranks train on disjoint videos with one loss; SIGUSR1 checkpoints, requeues, resumes."""

import json
import sys
import time

import pytest
import torch

from dali_pipelines.plan import EpochPlan
from tests.helpers import ROOT

pytestmark = pytest.mark.slurm

SBATCH = ROOT / "scripts" / "slurm" / "pretrain.sbatch"
NUM_VIDEOS, GLOBAL_BATCH = 16, 4  # 2 clips per rank a step, 4 steps an epoch


@pytest.fixture(scope="module")
def videos(class_videos):
    return class_videos(NUM_VIDEOS)  # 20 frames of 40 x 32 each, in two classes


def _submit(cluster, videos, out, max_steps, *extra):
    return cluster.submit(
        SBATCH,
        "conf/generated.yaml",
        "data.source=video",
        f"data.root={videos}",
        "data.num_frames=4",
        "data.crop_size=32",
        f"data.batch_size={GLOBAL_BATCH}",
        "data.num_workers=1",
        "model.base_channels=8",
        "model.proj_hidden_dim=32",
        "trainer.accelerator=cpu",
        f"trainer.max_steps={max_steps}",
        "trainer.max_epochs=100",
        "trainer.log_every_n_steps=1",
        "trainer.trace_batches=true",
        f"trainer.output_dir={out}",
        "trainer.run_name=slurm",
        *extra,
        chdir=ROOT,
        # Small CPU settings instead of the script's GPU ones; the rest (signal, requeue, srun) is the script's.
        extra_sbatch_args=[
            "--nodes=2",
            "--ntasks-per-node=1",
            "--gpus-per-node=0",
            "--cpus-per-task=1",
            "--time=10",
            f"--output={out}/slurm-%x-%j.out",
        ],
        # The script runs "${PYTHON:-python}": the interpreter running the tests, not the first python on PATH.
        env={"OMP_NUM_THREADS": "1", "PYTHON": sys.executable},
    )


def _traces(run_dir):
    return [
        [json.loads(line) for line in (run_dir / "trace" / f"rank{r}.jsonl").read_text().splitlines()]
        if (run_dir / "trace" / f"rank{r}.jsonl").is_file()
        else []
        for r in range(2)
    ]


def _check_ranks_agree(rank0, rank1, steps):
    """Both ranks trained ``steps`` in order, each on its half of the global batch, on disjoint videos that cover
    each epoch's plan, with one (averaged) loss."""
    assert [r["step"] for r in rank0] == [r["step"] for r in rank1] == list(steps)
    for a, b in zip(rank0, rank1, strict=True):
        assert a["world_size"] == b["world_size"] == 2 and (a["rank"], b["rank"]) == (0, 1)
        assert a["batch_size"] + b["batch_size"] == GLOBAL_BATCH and a["batch_size"] == b["batch_size"]
        assert not set(a["video_ids"]) & set(b["video_ids"])
        assert a["global_loss"] == pytest.approx(b["global_loss"], rel=1e-6)
        assert a["global_loss"] == pytest.approx((a["loss"] + b["loss"]) / 2, rel=1e-5)
        assert a["loss"] != b["loss"]  # each rank scores its own anchors
        epoch, k = divmod(a["step"], NUM_VIDEOS // GLOBAL_BATCH)
        half = GLOBAL_BATCH // 2
        for rank, record in enumerate((a, b)):
            plan = EpochPlan(NUM_VIDEOS, 2, rank, half, epoch=epoch, seed=0).items()
            assert record["video_ids"] == plan[k * half : (k + 1) * half].tolist()


def test_two_nodes_train_one_model_on_disjoint_videos(slurm_cluster, videos, tmp_path):
    job = _submit(slurm_cluster, videos, tmp_path, 6)
    slurm_cluster.wait(job, timeout=300)
    run_dir = tmp_path / "slurm"
    rank0, rank1 = _traces(run_dir)
    _check_ranks_agree(rank0, rank1, range(6))
    epoch0 = {v for r in rank0 + rank1 if r["epoch"] == 0 for v in r["video_ids"]}
    assert epoch0 == set(range(NUM_VIDEOS))  # one epoch of the two ranks reads every video once
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 6
    log0 = (tmp_path / f"slurm-cvrl-pretrain-{job}-rank0.out").read_text()
    assert "MEMBER: 1/2" in log0 and "distributed_backend=gloo" in log0


def test_sigusr1_checkpoints_requeues_and_the_job_finishes_from_where_it_stopped(
    slurm_cluster,
    videos,
    tmp_path,
):
    max_steps = 40
    job = _submit(slurm_cluster, videos, tmp_path, max_steps, "trainer.checkpoint_every_n_steps=0")
    run_dir = tmp_path / "slurm"
    deadline = time.monotonic() + 240
    while len(_traces(run_dir)[0]) < 3:
        assert slurm_cluster.job_info(job)["JobState"] in ("PENDING", "RUNNING"), slurm_cluster.describe(job)
        assert time.monotonic() < deadline, slurm_cluster.describe(job)
        time.sleep(0.1)
    slurm_cluster.signal(job, "USR1")
    slurm_cluster.wait(job, timeout=300)
    assert slurm_cluster.job_info(job)["Restarts"] == "1"

    rank0, rank1 = _traces(run_dir)  # appended to by both runs of the job
    _check_ranks_agree(rank0, rank1, range(max_steps))  # every step exactly once: none lost, none redone
    log0 = (tmp_path / f"slurm-cvrl-pretrain-{job}-rank0.out").read_text()  # both runs, appended
    last = run_dir / "checkpoints" / "last.ckpt"
    saved = int(log0.split(f"preempted: saved {last} at step ")[1].split(";")[0])
    assert 3 <= saved < max_steps and f"; requeueing Slurm job {job}" in log0
    assert [r["step"] for r in rank0].index(saved) == saved  # the rerun trained from the saved step on
    assert f"Restored all states from the checkpoint at {last}" in log0
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == max_steps
