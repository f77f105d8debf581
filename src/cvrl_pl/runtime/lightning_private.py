"""Every use of Lightning's private or undocumented API, in one place, each with why no public API serves.

Pinned: pytorch-lightning 2.6.6 (requirements.txt). When Lightning changes, this is the one module to update;
tests/runtime/test_lightning_private.py checks each item against the pinned version, and a test checks that no
other module reaches into the trainer's private attributes.
"""

from __future__ import annotations

import pytorch_lightning as pl


def is_logging_step(trainer: pl.Trainer) -> bool:
    """Whether Lightning writes the logs on the current step: the steps on which the training loop may read values
    back from the device (each read is a host-device sync; tests/callbacks/test_host_syncs.py).

    Private: ``trainer._logger_connector.should_update_logs``. The public ``trainer.log_every_n_steps`` alone does
    not say it: Lightning also logs on the last batch of an epoch and counts steps its own way; recomputing that
    rule here would drift from what the loggers actually do.
    """
    return trainer._logger_connector.should_update_logs


def batches_done_in_epoch(trainer: pl.Trainer) -> int:
    """Training batches the fit loop has processed in the current epoch (restored from a checkpoint on resume).

    Undocumented: ``trainer.fit_loop.epoch_loop.batch_progress.current.processed``. The public
    ``trainer.global_step`` counts optimiser steps over the whole run, not batches within the epoch, and is not
    enough to place a resumed DALI loader inside its epoch.
    """
    return trainer.fit_loop.epoch_loop.batch_progress.current.processed
