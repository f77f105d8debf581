"""A run of train.py with one more task row and one more head, registered before the config is loaded, as a user
would add them: ``python tests/entry/task_row.py OUT [key=value ...]``. The head writes the shape of the feature map
it saw to OUT/head_input.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

from cvrl_pl import tasks
from cvrl_pl.models import heads

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")


class MaxHead(nn.Module):
    """The feature map max-pooled over time and space, then a linear layer: not the pooled feature R3D gives."""

    def __init__(self, in_dim: int, num_classes: int, *, normalize: bool, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_dim, num_classes)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        (OUT / "head_input.json").write_text(json.dumps(list(feature_map.shape)))
        return self.linear(feature_map.amax(dim=(2, 3, 4)))


tasks.TASKS["max_probe"] = tasks.Task(
    "classifier", protocol=True, frozen=True, trains=True, head=True, multilabel=False, metrics=("top1",)
)
heads.HEADS["max"] = MaxHead

if __name__ == "__main__":  # spawned workers import this file again: they get the rows, not a second run
    from cvrl_pl.train import main  # after the rows: the config's choices are read from them

    sys.exit(main(sys.argv[2:]))
