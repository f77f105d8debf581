"""Stop a run whose loss turns NaN or infinite, naming the step, before it saves a checkpoint of broken weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from cvrl_pl.callbacks import step_loss
from cvrl_pl.runtime.lightning_private import is_logging_step


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class FiniteLossGuard(pl.Callback):
    """Records on the device the first step whose loss is not finite, and reads it on the host only on logging
    steps and before every checkpoint save: the training loop never waits on the device for it, and no
    checkpoint is written after the loss went bad, so ``checkpoint`` keeps the last good state."""

    def __init__(self, checkpoint: Path):
        self.checkpoint = Path(checkpoint)
        self._first_bad: torch.Tensor | None = None  # step index, -1 while every loss was finite

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, *args) -> None:
        loss = step_loss(outputs)
        step = trainer.global_step - 1  # the optimiser step this loss was computed at (as logged)
        if self._first_bad is None:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
        bad = ~torch.isfinite(loss) & (self._first_bad < 0)
        self._first_bad = torch.where(bad, torch.full_like(self._first_bad, step), self._first_bad)
        if is_logging_step(trainer):
            self.check(trainer)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self.check(trainer)  # raising here aborts the save before the file is touched

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer)

    def check(self, trainer: pl.Trainer) -> None:
        """Raise :class:`NonFiniteLossError` if any loss so far was not finite."""
        if self._first_bad is None or (step := int(self._first_bad)) < 0:
            return
        kept = (
            f"the last good checkpoint, {self.checkpoint}, is kept"
            if self.checkpoint.is_file()
            else "no checkpoint was saved before it"
        )
        raise NonFiniteLossError(
            f"the training loss is not finite (NaN or inf) at step {step} (epoch {trainer.current_epoch}); "
            f"stopped, and {kept}. Lower optim.base_lr or check the input data."
        )
