"""A per-rank record of what each training step saw: for checking sharding and loss agreement across nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from cvrl_pl.callbacks import step_loss


class BatchTraceCallback(pl.Callback):
    """Appends one JSON line per step to ``<run>/trace/rank<R>.jsonl``: the step, this rank's video ids and batch
    size, the world size, this rank's loss and the loss averaged over ranks (the logged value).

    ``trainer.trace_batches=true`` turns it on; the all-reduce it adds per step is why it is off by default.
    """

    def __init__(self, run_dir: Path):
        self.folder = Path(run_dir) / "trace"

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch, *_) -> None:
        loss = step_loss(outputs)
        record = {
            "step": trainer.global_step - 1,
            "epoch": trainer.current_epoch,
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "batch_size": len(batch["video_id"]),  # pretraining and the protocols' batches both carry it
            "video_ids": [int(v) for v in batch["video_id"].view(-1).tolist()],
            "loss": float(loss),
            "global_loss": float(trainer.strategy.reduce(loss, reduce_op="mean")),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
