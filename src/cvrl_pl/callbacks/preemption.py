"""Preemption: on SIGUSR1, checkpoint at the end of the current step, stop, and (under Slurm) requeue the job.

Slurm sends the signal before a time limit or a preemption when the job asks for it (``--signal=SIGUSR1@90``);
the requeued job reruns the same command, and ``trainer.resume=auto`` continues from the checkpoint. Outside
Slurm, ``kill -USR1 PID`` saves and stops the same way, and rerunning the command resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.utilities import rank_zero_info

from cvrl_pl.runtime.signals import PREEMPT_SIGNAL


class Preempted(Exception):
    """Training stopped on the preemption signal after saving a checkpoint; rerunning the command resumes."""


class PreemptionCallback(pl.Callback):
    """Catches SIGUSR1; at the end of the step it arrived in (the same step on every rank), saves ``checkpoint``,
    requeues the Slurm job from rank 0 if there is one, and raises :class:`Preempted`."""

    def __init__(self, checkpoint: Path):
        self.checkpoint = Path(checkpoint)
        self.received = False
        self._previous = None
        self._group: dist.ProcessGroup | None = None

    def _handle(self, signum: int, frame: object) -> None:
        # Only a flag: saving inside a signal handler could catch the model half-way through an optimiser step.
        self.received = True

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._previous = signal.signal(PREEMPT_SIGNAL, self._handle)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # The ranks agree on the flag over a CPU (gloo) group. Lightning's reduce_boolean_decision all-reduces
            # a GPU tensor and reads it back: a host-device sync on every step.
            self._group = dist.new_group(backend="gloo")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous is not None:
            signal.signal(PREEMPT_SIGNAL, self._previous)
            self._previous = None
        self._group = None

    def any_rank_received(self) -> bool:
        """Whether the signal reached any rank: the same answer on every rank, without touching the GPU."""
        if self._group is None:
            return self.received
        flag = torch.tensor([int(self.received)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        return bool(flag.item())

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: object) -> None:
        # The signal reaches the ranks at slightly different steps: stop as soon as any rank has it.
        if not self.any_rank_received():
            return
        trainer.save_checkpoint(self.checkpoint, weights_only=False)  # the full state: the rerun resumes from it
        message = f"preempted: saved {self.checkpoint} at step {trainer.global_step}"
        job = os.environ.get("SLURM_JOB_ID")
        if job:
            message += f"; requeueing Slurm job {job}"
        rank_zero_info(message)  # before the requeue: Slurm may stop this process as soon as it is asked
        if job and trainer.is_global_zero:
            subprocess.run(["scontrol", "requeue", job], check=True)
        raise Preempted(message)
