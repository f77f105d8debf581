"""The pinned Lightning's internals that cvrl_pl.runtime.lightning_private reads mean what that module says:
checked on a real (tiny) CPU fit, so a Lightning upgrade that changes them fails here first."""

from __future__ import annotations

import csv

import pytorch_lightning as pl
import torch

from cvrl_pl.runtime.lightning_private import batches_done_in_epoch, is_logging_step


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch).pow(2).mean()
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _Record(pl.Callback):
    def __init__(self):
        self.logging_steps, self.done = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.done.append((trainer.current_epoch, batch_idx, batches_done_in_epoch(trainer)))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if is_logging_step(trainer):
            self.logging_steps.append(trainer.global_step - 1)  # the step index the loggers write


def _fit(tmp_path, **trainer_kwargs) -> _Record:
    record = _Record()
    trainer = pl.Trainer(
        default_root_dir=tmp_path,
        logger=pl.loggers.CSVLogger(tmp_path, name="logs"),
        callbacks=[record],
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        **trainer_kwargs,
    )
    trainer.fit(_Tiny(), torch.utils.data.DataLoader(torch.randn(5, 2), batch_size=1))
    return record


def test_logging_steps_are_the_steps_the_loggers_write(tmp_path):
    record = _fit(tmp_path, max_epochs=2, log_every_n_steps=3)
    (metrics,) = tmp_path.glob("logs/version_*/metrics.csv")
    written = [int(row["step"]) for row in csv.DictReader(metrics.open()) if row["loss"]]
    assert written == [2, 5, 8]  # every 3rd of 10 steps, counted over the run, not within the epoch
    assert record.logging_steps == written


def test_batches_done_count_within_the_epoch(tmp_path):
    record = _fit(tmp_path, max_epochs=2, log_every_n_steps=5)
    assert record.done == [(epoch, i, i) for epoch in (0, 1) for i in range(5)]
