"""Training callbacks: periodic kNN / linear-probe evaluation, the run report, preemption, the loss guard,
throughput, the batch trace, the W&B augmentation preview and the progress bar."""

from typing import Any

import torch


def step_loss(outputs: Any) -> torch.Tensor:
    """The detached loss of a training step's outputs (a tensor, or Lightning's {"loss": ...} dict)."""
    return (outputs["loss"] if isinstance(outputs, dict) else outputs).detach()
