"""Training throughput and input stalls, logged every logging window: a starved GPU shows in the run's own logs.

Only the host clock is read. A logging step reads the loss back from the device anyway, so a window that ends on
one has waited for all its queued work: its length is the device's real time for the window's steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from cvrl_pl.runtime.lightning_private import is_logging_step


def batch_clips(batch: Any) -> int:
    """Clips in a batch: the first dimension of every (B, C, T, H, W) tensor (every view of a pretraining batch)."""
    if not isinstance(batch, dict):
        return 0
    return sum(len(v) for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() == 5)


def largest_over_ranks(trainer: pl.Trainer, pl_module: pl.LightningModule, value: float) -> float:
    """The largest of every rank's ``value`` (a collective: every rank calls it on the same step)."""
    if trainer.world_size == 1:
        return value
    return float(trainer.strategy.all_gather(torch.tensor(value, device=pl_module.device)).max())


class StepTimer:
    """Host wall time of training steps and of the gaps between them (the wait for the next batch), and clips."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self._last_end: float | None = None
        self._step_start = 0.0
        self.reset()

    def reset(self) -> None:
        """Start a new window (the gap after the last step still counts into it)."""
        self.elapsed = self.wait = 0.0
        self.clips = 0

    def pause(self) -> None:
        """Do not count the time until the next step (an epoch boundary: validation, probes)."""
        self._last_end = None

    def step_start(self) -> None:
        self._step_start = self.clock()
        if self._last_end is not None:
            gap = self._step_start - self._last_end
            self.wait += gap
            self.elapsed += gap

    def step_end(self, clips: int) -> None:
        self._last_end = self.clock()
        self.elapsed += self._last_end - self._step_start
        self.clips += clips

    @property
    def wait_fraction(self) -> float:
        return self.wait / self.elapsed if self.elapsed > 0 else 0.0


class ThroughputMonitor(pl.Callback):
    """Logs, per logging window, ``perf/clips_per_s`` (all ranks together) and ``perf/data_wait``: the fraction of
    wall time spent between training steps, which is the wait for the next batch (plus any checkpoint written in
    the window), on the rank that waited most (one starving rank holds all the others up in DDP's all-reduce).
    Time across epoch boundaries (validation, probes) is left out.

    On a GPU, warns once when a window after the first (which holds the pipeline's start-up) waits more than
    ``warn_above`` of its time: the input pipeline, not the model, sets the pace. On a CPU the two share the cores,
    so the wait is expected and not worth a warning.
    """

    def __init__(self, warn_above: float, clock: Callable[[], float] = time.perf_counter):
        self.warn_above = warn_above
        self.timer = StepTimer(clock)
        self.warned = False
        self._windows = 0
        self._saved = False

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.timer.pause()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        self.timer.step_start()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx):
        timer = self.timer
        timer.step_end(batch_clips(batch))
        if not is_logging_step(trainer) or timer.elapsed <= 0:
            return
        clips_per_s = timer.clips * trainer.world_size / timer.elapsed
        wait = largest_over_ranks(trainer, pl_module, timer.wait_fraction)
        pl_module.log("perf/clips_per_s", clips_per_s, on_step=True, on_epoch=False, batch_size=1)
        pl_module.log("perf/data_wait", wait, on_step=True, on_epoch=False, batch_size=1)
        self._windows += 1
        on_gpu = pl_module.device.type == "cuda"
        if on_gpu and self._windows > 1 and not self._saved and not self.warned and 0 < self.warn_above < wait:
            self.warned = True
            rank_zero_warn(
                f"the input pipeline is the bottleneck: {wait:.0%} of the last logging window was spent waiting "
                f"for batches ({clips_per_s:.1f} clips/s). Knobs: data.dali_threads, data.num_workers, "
                "data.decoder (docs/benchmarks.md); trainer.data_wait_warn silences this."
            )
        timer.reset()
        self._saved = False

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self._saved = True  # this window's gaps include writing a checkpoint: no verdict on its figure
