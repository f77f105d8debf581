"""CVRLModule: the LightningModule for CVRL pretraining (encoder -> projection head -> NT-Xent)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from cvrl_pl.config import Config
from cvrl_pl.losses import NTXentLoss, positive_top1
from cvrl_pl.models import ProjectionHead, build_encoder
from cvrl_pl.optim import build_optimizer, lr_at, peak_lr


class CVRLModule(pl.LightningModule):
    """Takes batches {"view1", "view2"} of clips (B, 3, T, H, W) and minimises NT-Xent between the views."""

    def __init__(self, cfg: DictConfig | dict):
        super().__init__()
        # Stored as a plain dict so a checkpoint restores the exact configuration it was trained with.
        cfg = OmegaConf.merge(OmegaConf.structured(Config), cfg)
        self.save_hyperparameters({"cfg": OmegaConf.to_container(cfg)})
        self.cfg = cfg
        m = cfg.model
        self.encoder = build_encoder(m.encoder, m.width, m.zero_init_residual, m.base_channels)
        self.projector = ProjectionHead(self.encoder.feature_dim, m.proj_hidden_dim, m.proj_out_dim, m.proj_layers)
        self.criterion = NTXentLoss(cfg.loss.temperature)
        if m.channels_last_3d:
            self.to(memory_format=torch.channels_last_3d)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Encoder features (B, feature_dim) of clips (B, 3, T, H, W)."""
        if self.cfg.model.channels_last_3d:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        return self.encoder(clips)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        view1, view2 = batch["view1"], batch["view2"]
        # One pass over both views: BN statistics come from all 2n clips, as in SimCLR.
        z1, z2 = self.projector(self(torch.cat([view1, view2]))).chunk(2)
        out = self.criterion.compute(z1, z2)
        n = view1.shape[0]
        self.log("train/loss", out.loss, prog_bar=True, sync_dist=True, batch_size=n)
        self.log("train/pos_top1", positive_top1(out), prog_bar=True, sync_dist=True, batch_size=n)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], prog_bar=True, batch_size=n)
        return out.loss

    def configure_optimizers(self):
        o = self.cfg.optim
        global_batch = self.cfg.data.batch_size
        peak = peak_lr(o.base_lr, global_batch)
        optimizer = build_optimizer(o.name, self, peak, o.momentum, o.weight_decay, o.lars_eta)
        total = int(self.trainer.estimated_stepping_batches)
        warmup = round(o.warmup_epochs * self.trainer.num_training_batches)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(step, total, warmup, peak) / peak)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
