"""Smoke test of tests/helpers/slurm_cluster.py: a real two-node cluster runs sbatch jobs, signals srun tasks,
requeues."""

import sys
import time
from pathlib import Path

import pytest

from tests.helpers.slurm_cluster import SlurmCluster

pytestmark = pytest.mark.slurm

RANK_SCRIPT = """\
import os, socket, subprocess, sys
first = subprocess.run(["scontrol", "show", "hostnames", os.environ["SLURM_NODELIST"]],
                       capture_output=True, text=True, check=True).stdout.split()[0]
fields = {key: os.environ[key] for key in ("SLURM_PROCID", "SLURM_NODEID", "SLURM_NNODES", "SLURMD_NODENAME")}
fields.update(first=first, first_ip=socket.gethostbyname(first))
with open(os.path.join(sys.argv[1], "rank" + os.environ["SLURM_PROCID"] + ".txt"), "w") as out:
    out.write(" ".join(f"{key}={value}" for key, value in fields.items()))
"""

# First run: wait for SIGUSR1, record it; rank 0 then requeues the job. Second run (SLURM_RESTART_COUNT=1): finish.
SIGNAL_SCRIPT = """\
import os, pathlib, signal, subprocess, sys, time
out, rank = pathlib.Path(sys.argv[1]), os.environ["SLURM_PROCID"]
restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
if restarts != "0":
    (out / f"finished{rank}").write_text(f"restarts={restarts}")
    sys.exit(0)
got = []
signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
(out / f"started{rank}").write_text(str(os.getpid()))
deadline = time.monotonic() + 60
while not got and time.monotonic() < deadline:
    time.sleep(0.05)
(out / f"usr1-{rank}").write_text(f"pid={os.getpid()} signals={got}")
if got and rank == "0":
    # Requeueing kills every task at once: first let the other ranks (signalled by their own node) record theirs.
    ranks = range(int(os.environ["SLURM_NTASKS"]))
    while not all((out / f"usr1-{r}").exists() for r in ranks) and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=True)
sys.exit(0 if got else 3)
"""


def write_job(tmp_path: Path, name: str, task: str) -> Path:
    """A 2-node x 1-task batch script running ``task`` (a python script) with srun, output dir as argument."""
    (tmp_path / f"{name}_task.py").write_text(task)  # not signal.py: it would shadow the signal module
    script = tmp_path / f"{name}.sh"
    script.write_text(
        f"""#!/bin/bash
#SBATCH --job-name=cvrl-{name}
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --output={tmp_path}/{name}-%j.out
#SBATCH --open-mode=append
srun {sys.executable} {tmp_path}/{name}_task.py "$1"
"""
    )
    return script


def test_two_node_job_runs_one_rank_per_node(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "ranks"
    out.mkdir()
    job = slurm_cluster.submit(write_job(tmp_path, "ranks", RANK_SCRIPT), str(out))
    assert slurm_cluster.wait(job, timeout=60) == "COMPLETED"
    info = slurm_cluster.job_info(job)
    fields = ("JobName", "NodeList", "NumNodes", "ExitCode")
    assert [info[key] for key in fields] == ["cvrl-ranks", "n[1-2]", "2", "0:0"]
    ranks = {
        path.name: dict(field.split("=", 1) for field in path.read_text().split()) for path in out.glob("rank*.txt")
    }
    assert sorted(ranks) == ["rank0.txt", "rank1.txt"]
    for rank in (0, 1):
        fields = ranks[f"rank{rank}.txt"]
        assert fields["SLURM_PROCID"] == str(rank)
        assert fields["SLURM_NODEID"] == str(rank)
        assert fields["SLURMD_NODENAME"] == f"n{rank + 1}"
        assert fields["SLURM_NNODES"] == "2"
        assert (fields["first"], fields["first_ip"]) == ("n1", "127.0.0.1")  # /etc/hosts entry while the cluster runs


def test_signal_reaches_srun_tasks_and_requeue_reruns(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "signal"
    out.mkdir()
    job = slurm_cluster.submit(write_job(tmp_path, "signal", SIGNAL_SCRIPT), str(out))
    slurm_cluster.wait(job, states=("RUNNING",), timeout=60)
    deadline = time.monotonic() + 60
    while not all((out / f"started{rank}").exists() for rank in (0, 1)):  # handlers installed
        assert time.monotonic() < deadline, slurm_cluster.describe(job)
        time.sleep(0.1)
    pids = {rank: (out / f"started{rank}").read_text() for rank in (0, 1)}

    slurm_cluster.signal(job, "USR1")

    assert slurm_cluster.wait(job, timeout=90) == "COMPLETED"
    for rank in (0, 1):  # each srun task got exactly one SIGUSR1 (10), in the process that started
        assert (out / f"usr1-{rank}").read_text() == f"pid={pids[rank]} signals=[10]"
        assert (out / f"finished{rank}").read_text() == "restarts=1"
    info = slurm_cluster.job_info(job)
    assert (info["Restarts"], info["ExitCode"]) == ("1", "0:0")
