"""Log what the model is fed: every view of a few clips of the first training batch, once, as one W&B image."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from cvrl_pl.data.preview import grid, stacked_views


class AugmentationPreview(pl.Callback):
    """At the first step of a run (not on resume), logs ``aug/preview``: a row per clip, view 1's frames, then
    view 2's, ..., straight from the training batch, so it shows the real pipeline's output."""

    def __init__(self, logger: WandbLogger, clips: int):
        self.logger, self.clips = logger, clips

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step != 0 or not trainer.is_global_zero:
            return
        views = stacked_views(batch, self.clips)
        self.logger.log_image("aug/preview", [grid(np.clip(views, 0, 1))], step=0)
