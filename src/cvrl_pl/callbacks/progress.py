"""The progress bar, refreshed on logging steps only: a refresh reads the logged metrics back from the device."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar

from cvrl_pl.runtime.lightning_private import is_logging_step


class LogStepProgressBar(TQDMProgressBar):
    """tqdm's bar, refreshed on the trainer's logging steps and on an epoch's last batch.

    Lightning's ``refresh_rate`` counts batches within the epoch, which drifts from the logging steps (counted over
    the run) after the first epoch, and every refresh is a host-device sync (tests/callbacks/test_host_syncs.py).
    """

    def __init__(self) -> None:
        super().__init__(refresh_rate=1)  # every call that reaches the parent refreshes

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int):
        if is_logging_step(trainer) or batch_idx + 1 == trainer.num_training_batches:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
