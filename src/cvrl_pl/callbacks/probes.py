"""Periodic evaluation of the backbone during pretraining: kNN and a linear probe on frozen features.

Features are the pooled backbone vector (not the projection), L2-normalised, averaged over each video's test
views, computed once per evaluation for the labelled train split (the kNN bank and the probe's training set) and
the val split (the queries). The linear probe is the head registry's ``probe.head`` (models.heads): one linear layer.
The first evaluation runs before any training step: that is the random-init baseline.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from cvrl_pl.data.datamodule import EvalClips, eval_loader
from cvrl_pl.data.labelled import labelled_splits
from cvrl_pl.errors import ConfigError
from cvrl_pl.eval.accuracy import mean_class_top1
from cvrl_pl.eval.features import extract_features
from cvrl_pl.eval.knn import knn_scores, topk_accuracy
from cvrl_pl.eval.linear import fit_linear_probe, probe_scores
from cvrl_pl.models.heads import build_head


def probe_head(name: str, in_dim: int, num_classes: int) -> torch.nn.Linear:
    """The registry's head ``name`` (``probe.head``) for the linear probe; ConfigError unless it is one linear layer,
    which fit_linear_probe folds the features' standardisation into."""
    head = build_head(name, in_dim, num_classes, normalize=False, dropout=0.0)
    if not isinstance(head, torch.nn.Linear):  # a head on the token map needs that map cached, not pooled features
        raise ConfigError(f"probe.head={name}: the probes fit a head that is one linear layer on pooled features")
    return head


def probe_metrics(name: str, scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """One probe's ``<name>_top1``, ``<name>_top5`` and ``<name>_mean_class_top1`` (the mean over the classes that
    have val videos of each class's top-1: a frequent class weighs no more than a rare one), in percent."""
    top = topk_accuracy(scores, labels)
    return {
        f"{name}_top1": top[1],
        f"{name}_top5": top[5],
        f"{name}_mean_class_top1": mean_class_top1(scores, labels)[0],
    }


class ProbeCallback(pl.Callback):
    """kNN and linear-probe top-1, top-5 and mean per-class top-1 on the val split: before training, every N epochs,
    and at the end."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.history: list[dict[str, Any]] = []  # one entry per evaluation; kept in checkpoints
        self._loaders = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        p, d = self.cfg.probe, self.cfg.data
        # The probes fit on the training split unless told otherwise.
        bank_split, bank_section = (p.train, "probe.train") if p.train.root else (d, "data")
        train_index, val_index = labelled_splits(
            bank_split,
            self.cfg.val,
            sections=(bank_section, "val"),
            progress=False,
            other_train="" if p.train.root else "probe.train.root",
        )
        self.num_classes = len(train_index.classes)
        with torch.device("meta"):  # checked before any feature is extracted, without a random draw
            probe_head(p.head, 1, self.num_classes)
        clips = EvalClips(d.num_frames, d.stride, d.crop_size, *p.views)  # the pretraining clips, as test views
        self._loaders = [
            eval_loader(self.cfg, index, trainer, mode="test", batch_size=p.batch_size, clips=clips)
            for index in (train_index, val_index)
        ]

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """Probe the current backbone; log the results and append them to the history."""
        p = self.cfg.probe
        bank, queries = (extract_features(pl_module.encoder, loader, pl_module.device) for loader in self._loaders)
        knn = knn_scores(
            bank.features, bank.labels, queries.features, self.num_classes, k=p.knn_k, temperature=p.knn_temperature
        )
        head = probe_head(p.head, bank.features.shape[1], self.num_classes)
        with torch.enable_grad(), torch.inference_mode(False):
            probe = fit_linear_probe(
                bank.features.cpu(),
                bank.labels.cpu(),
                self.num_classes,
                epochs=p.epochs,
                lr=p.lr,
                seed=self.cfg.trainer.seed,
                layer=head,
            )
        result = {
            "epoch": round(trainer.global_step / max(1, trainer.num_training_batches), 2),  # epochs trained
            "step": trainer.global_step,
            **probe_metrics("knn", knn, queries.labels),
            **probe_metrics("linear", probe_scores(probe, queries.features.cpu()), queries.labels.cpu()),
        }
        self.history.append(result)
        metrics = {f"eval/{k}": float(v) for k, v in result.items() if k not in ("epoch", "step")}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        return result

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step == 0:  # not on resume: the weights are only random before the first step
            self.evaluate(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        every = self.cfg.probe.every_n_epochs
        if every and (trainer.current_epoch + 1) % every == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.history or self.history[-1]["step"] != trainer.global_step:
            self.evaluate(trainer, pl_module)

    @property
    def random_init(self) -> dict[str, Any] | None:
        """The evaluation before the first training step, if this run made one."""
        return self.history[0] if self.history and self.history[0]["step"] == 0 else None

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
