"""Training callbacks: periodic kNN / linear-probe evaluation, the run report, preemption, the loss guard,
throughput."""

from typing import Any

import pytorch_lightning as pl
import torch


def is_logging_step(trainer: pl.Trainer) -> bool:
    """Whether Lightning writes the logs on the current step: the steps on which the training loop may read
    values back from the device (each read is a host-device sync; tests/test_host_syncs.py)."""
    return trainer._logger_connector.should_update_logs


def step_loss(outputs: Any) -> torch.Tensor:
    """The detached loss of a training step's outputs (a tensor, or Lightning's {"loss": ...} dict)."""
    return (outputs["loss"] if isinstance(outputs, dict) else outputs).detach()
