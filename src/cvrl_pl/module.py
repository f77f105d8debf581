"""LightningModules: CVRLModule (pretraining: encoder -> projection head -> NT-Xent), ClassifierModule (the
linear-evaluation and fine-tuning protocols: encoder -> linear classifier, single-label (softmax, top-1) or
multi-label (sigmoid, mAP), tested on each video's views combined) and
RetrievalModule (the retrieval protocol: a frozen encoder's features, test videos querying training videos)."""

from __future__ import annotations

from dataclasses import replace

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.trainer.states import TrainerFn

from cvrl_pl.config import ConfigError, as_schema
from cvrl_pl.data.batches import batch_views
from cvrl_pl.eval.accuracy import clip_top1, mean_class_top1
from cvrl_pl.eval.features import Features, clip_rows, video_features
from cvrl_pl.eval.knn import topk_accuracy
from cvrl_pl.eval.multilabel import mean_average_precision
from cvrl_pl.eval.retrieval import recall_at_k
from cvrl_pl.losses import NTXentLoss, positive_top1, update_scale
from cvrl_pl.models import Encoder, ProjectionHead, build_encoder
from cvrl_pl.models.attentive import PoolerSpec
from cvrl_pl.models.encoder_file import arch_of, load_encoder_weights
from cvrl_pl.models.heads import HEADS, HeadGrid, build_head
from cvrl_pl.models.segments import encode_segments
from cvrl_pl.optim import build_optimizer, grid_groups, lr_at, multistep_lr, peak_lr
from cvrl_pl.runtime.lightning_private import is_logging_step
from cvrl_pl.tasks import TASKS


class CVRLModule(pl.LightningModule):
    """Takes batches {"view1", ..., "view<rho>"} of clips (B, 3, T, H, W) and minimises NT-Xent between the views
    (every other clip of a video a positive, every clip of every other video a negative)."""

    def __init__(self, cfg: DictConfig | dict):
        super().__init__()
        # Stored as a plain dict so a checkpoint restores the exact configuration it was trained with.
        cfg = as_schema(cfg)
        self.save_hyperparameters({"cfg": OmegaConf.to_container(cfg)})
        self.cfg = cfg
        m = cfg.model
        self.encoder = model_encoder(m)
        self.projector = ProjectionHead(self.encoder.feature_dim, m.proj_hidden_dim, m.proj_out_dim, m.proj_layers)
        self.criterion = NTXentLoss(cfg.loss.temperature)
        self.memory_format = memory_format(cfg)
        self.to(memory_format=self.memory_format)
        if m.compile:
            self.encoder.compile()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Encoder features (B, feature_dim) of clips (B, 3, T, H, W), in the model's memory format whatever the
        clips' strides (the pipelines deliver channels-last views: a no-op for a channels_last_3d model)."""
        return self.encoder(clips.contiguous(memory_format=self.memory_format))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        views = batch_views(batch)
        # One pass over all views: BN statistics come from all rho n clips, as in SimCLR.
        out = self.criterion.compute(*self.projector(self(torch.cat(views))).chunk(len(views)))
        n = views[0].shape[0]
        self.log("train/loss", out.loss, prog_bar=True, sync_dist=True, batch_size=n)
        self.log("train/pos_top1", positive_top1(out), prog_bar=True, sync_dist=True, batch_size=n)
        log_lr(self, n)
        loss_factor, _ = update_scale(self.cfg.loss.update_scale, self.trainer.world_size)
        return out.loss * loss_factor  # train/loss, logged above, stays the mean: comparable across scales

    def configure_optimizers(self):
        _, decay_factor = update_scale(self.cfg.loss.update_scale, self.trainer.world_size)
        return optimizer_and_schedule(self, self.cfg, decay_factor=decay_factor)


def memory_format(cfg: DictConfig) -> torch.memory_format:
    """The model's memory format; its inputs are converted to it (a no-op for the pipelines' channels-last clips)."""
    return torch.channels_last_3d if cfg.model.channels_last_3d else torch.contiguous_format


def log_lr(module: pl.LightningModule, batch_size: int) -> None:
    """Log the learning rate, only on the steps Lightning writes logs: a logged Python float is copied to the
    device, and the training loop should copy nothing but the batch."""
    if is_logging_step(module.trainer):
        module.log("train/lr", module.optimizers().param_groups[0]["lr"], prog_bar=True, batch_size=batch_size)


def optimizer_and_schedule(
    module: pl.LightningModule, cfg: DictConfig, *, decay_factor: float = 1.0, groups: list[dict] | None = None
) -> dict:
    """An optimiser of ``optim.name`` over the trainable parameters (or ``groups``, each at its own peak rate), LR
    scaled by the global batch, per-step warm-up then ``optim.schedule``; ``decay_factor`` multiplies
    ``optim.weight_decay`` (``loss.update_scale=official``)."""
    o = cfg.optim
    peak = peak_lr(o.base_lr, cfg.data.batch_size)
    decay = o.weight_decay * decay_factor
    optimizer = build_optimizer(
        o.name, module, peak, momentum=o.momentum, weight_decay=decay, lars_eta=o.lars_eta, groups=groups
    )
    total = int(module.trainer.estimated_stepping_batches)
    per_epoch = module.trainer.num_training_batches
    warmup = round(o.warmup_epochs * per_epoch)
    if o.schedule == "multistep":
        steps = [m * per_epoch for m in o.milestones]

        def at(step: int) -> float:
            return multistep_lr(step, warmup, peak, milestone_steps=steps, gamma=o.gamma)
    else:

        def at(step: int) -> float:
            return lr_at(step, total, warmup, peak)

    # A factor on each group's own peak rate: at() is proportional to the peak it is given.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: at(step) / peak)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def model_encoder(model_cfg: DictConfig) -> Encoder:
    """The randomly initialised encoder that a ``model`` config section describes."""
    return build_encoder(**arch_of(model_cfg), zero_init_residual=model_cfg.zero_init_residual)


def initial_encoder(cfg: DictConfig) -> torch.nn.Module:
    """The encoder of ``cfg.model``, with the weights of ``model.init`` when set (a ConfigError naming it if they
    do not load)."""
    m = cfg.model
    encoder = model_encoder(m)
    if m.init:
        try:
            load_encoder_weights(encoder, m.init, arch_of(m))
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(f"model.init: {exc}") from exc
    return encoder


def head_options(cfg: DictConfig, name: str) -> dict:
    """What a head with a ``config_section`` (models.heads.HEADS) is built with: the section's PoolerSpec and the
    grid (T, H, W) of the training samples' feature map (eval.segments clips' maps joined along time), where its
    position embeddings are learnt."""
    section = getattr(HEADS[name], "config_section", None)
    if section is None:
        return {}
    e = cfg.eval
    with torch.device("meta"):  # shapes only
        grid = model_encoder(cfg.model).forward_features(torch.empty(1, 3, e.num_frames, e.crop_size, e.crop_size))
    t, h, w = grid.shape[2:]
    return {"spec": PoolerSpec(**e[section]), "grid": (t * e.segments, h, w)}


def head_grid(cfg: DictConfig) -> list[tuple[float, float]]:
    """The (base learning rate, weight decay) of each head of eval.heads' grid, every lr with every decay (an empty
    list of either: optim's one value); [] when neither list is set (one head, optim's values)."""
    h, o = cfg.eval.heads, cfg.optim
    if not (h.lr or h.weight_decay):
        return []
    return [(lr, wd) for lr in (h.lr or [o.base_lr]) for wd in (h.weight_decay or [o.weight_decay])]


SELECT_SCORE = "select/score"  # what eval.selection=best_on_test's checkpoint callback monitors


class ClassifierModule(pl.LightningModule):
    """A new classifier head (``eval.head``, linear by default) on the encoder's feature map: the encoder frozen and
    the feature L2-normalised (a task whose row says ``frozen``: linear_eval), or trained end to end (finetune).
    Single-label: cross-entropy, and the softmax over every test view of a video combined (``eval.combine_views``,
    mean by default) scored by top-1 and top-5. ``multilabel`` (charades): binary cross-entropy on multi-hot
    targets, the sigmoids combined (max by default) scored by mAP."""

    def __init__(self, cfg: DictConfig | dict, num_classes: int, *, multilabel: bool = False):
        super().__init__()
        cfg = as_schema(cfg)
        hparams = {"cfg": OmegaConf.to_container(cfg), "num_classes": num_classes, "multilabel": multilabel}
        self.save_hyperparameters(hparams)
        self.multilabel = multilabel
        combine = cfg.eval.combine_views
        self.combine = ("max" if multilabel else "mean") if combine == "auto" else combine
        self.cfg, self.frozen = cfg, TASKS[cfg.task].frozen
        self.encoder = initial_encoder(cfg)
        self.encoder.requires_grad_(not self.frozen)
        dropout = 0.0 if self.frozen else cfg.model.classifier_dropout
        name = TASKS[cfg.task].head_of(cfg.eval.head)
        options = head_options(cfg, name)
        self.grid = head_grid(cfg)  # several heads on the same frozen features, one chosen on held-out videos

        def head() -> torch.nn.Module:
            return build_head(
                name, self.encoder.feature_dim, num_classes, normalize=self.frozen, dropout=dropout, options=options
            )

        self.head = HeadGrid(head() for _ in self.grid) if self.grid else head()
        self.chosen = 0  # the grid's head whose scores are the results and predictions (protocols.classify sets it)
        self.log_prefix = "val"  # what the scores of a validation pass are logged under
        self.memory_format = memory_format(cfg)
        self.to(memory_format=self.memory_format)
        self._val: list[tuple[torch.Tensor, ...]] = []
        self.results: dict[str, float] = {}
        self.head_results: list[dict[str, float]] = []  # the last validation's scores of every head of the grid
        self.predictions: Features | None = None  # the last validation's view-combined scores, every rank's videos

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Class logits of samples (B, 3, T, H, W), each of eval.segments clips (their maps joined along time)."""

        def encode(x: torch.Tensor) -> torch.Tensor:
            return self.encoder.forward_features(x.contiguous(memory_format=self.memory_format))

        return self.head(encode_segments(encode, clips, self.cfg.eval.segments))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.frozen:
            # A frozen backbone keeps its BatchNorm statistics too. Set here, on every step: Lightning restores
            # each submodule's train/eval mode around its loops, which would undo an override of train().
            self.encoder.eval()
        logits, labels = self(batch["views"]), batch["label"]
        heads = logits if self.grid else logits[None]  # (heads, B, classes)
        if self.multilabel:
            losses = [F.binary_cross_entropy_with_logits(x.float(), labels.float()) for x in heads]
        else:
            losses = [F.cross_entropy(x, labels.view(-1)) for x in heads]
        loss = torch.stack(losses).sum()  # each head's gradient is its own loss's: they share no parameter
        n = len(labels)
        self.log("train/loss", loss / len(losses), prog_bar=True, sync_dist=True, batch_size=n)  # the heads' mean
        log_lr(self, n)
        return loss

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        if self.grid and gradient_clip_val:  # each head of a grid clipped alone, as if it were trained alone
            for head in self.head:
                torch.nn.utils.clip_grad_norm_(head.parameters(), gradient_clip_val)
            return
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        def scores(clips: torch.Tensor) -> torch.Tensor:
            logits = self(clips).float()
            probs = logits.sigmoid() if self.multilabel else logits.softmax(dim=-1)
            return probs.transpose(0, 1).flatten(1) if self.grid else probs  # a grid's: (B, heads x classes)

        self._val.append(clip_rows(batch, scores, combine=self.combine))

    def on_validation_epoch_end(self) -> None:
        rows = list(self._val)
        self._val.clear()
        if self.trainer.state.fn == TrainerFn.FITTING and not self.multilabel:
            # eval.selection=best_on_test's pass after an epoch: SEVERE scores each test clip alone.
            self.log(SELECT_SCORE, clip_top1(rows), sync_dist=False)
            return
        videos = video_features(rows, combine=self.combine)
        if self.trainer.state.fn == TrainerFn.FITTING:  # a multi-label split's pass: mAP over its videos
            self.log(SELECT_SCORE, self._scores(videos.features, videos.labels)["mAP"], sync_dist=False)
            return
        per_head = videos.features.unflatten(1, (max(1, len(self.grid)), -1))  # (videos, heads, classes)
        self.head_results = [self._scores(per_head[:, g], videos.labels) for g in range(per_head.shape[1])]
        self.predictions = replace(videos, features=per_head[:, self.chosen])
        scores = self.head_results[self.chosen]
        counts = {} if self.multilabel else {"classes_tested": len(torch.unique(videos.labels))}
        self.results = {
            **scores,
            **counts,
            "videos": len(videos.video_ids),
            "views_per_video": float(videos.views.float().mean()),
        }
        self.log_dict({f"{self.log_prefix}/{k}": v for k, v in scores.items()}, sync_dist=False)

    def _scores(self, values: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One head's scores of its videos' combined ``values``: mAP (multi-label: top-1 means nothing for multi-hot
        targets), else top-1, top-5 and mean per-class top-1."""
        if self.multilabel:
            return {"mAP": mean_average_precision(values.cpu().numpy(), labels.cpu().numpy())}
        acc = topk_accuracy(values, labels)
        return {"top1": acc[1], "top5": acc[5], "mean_class_top1": mean_class_top1(values, labels)[0]}

    def configure_optimizers(self):
        if not self.grid:
            return optimizer_and_schedule(self, self.cfg)
        batch = self.cfg.data.batch_size
        parts = [(head, peak_lr(lr, batch), decay) for head, (lr, decay) in zip(self.head, self.grid, strict=True)]
        return optimizer_and_schedule(self, self.cfg, groups=grid_groups(parts))


class RetrievalModule(pl.LightningModule):
    """Retrieval recall of a frozen encoder (``task=retrieval``), from one validation pass over two loaders: the
    training split (the gallery, loader 0), then the test split (the queries, loader 1). Each video's feature is
    the mean over its clips; R@k is computed on every rank from the gathered features (eval/retrieval.py)."""

    def __init__(self, cfg: DictConfig | dict):
        super().__init__()
        cfg = as_schema(cfg)
        self.cfg = cfg
        self.encoder = initial_encoder(cfg).requires_grad_(False)
        self.memory_format = memory_format(cfg)
        self.to(memory_format=self.memory_format)
        self._rows: tuple[list, list] = ([], [])
        self.results: dict[str, float] = {}

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Pooled float32 features of clips (B, 3, T, H, W)."""
        return self.encoder(clips.contiguous(memory_format=self.memory_format)).float()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._rows[dataloader_idx].append(clip_rows(batch, self))

    def on_validation_epoch_end(self) -> None:
        gallery, queries = (video_features(rows) for rows in self._rows)
        for rows in self._rows:
            rows.clear()
        ks = tuple(self.cfg.eval.recall_at)
        recall = recall_at_k(gallery.features, gallery.labels, queries.features, queries.labels, ks=ks)
        self.results = {
            **{f"R@{k}": r for k, r in recall.items()},
            "queries": len(queries.video_ids),
            "gallery": len(gallery.video_ids),
            "views_per_video": float(queries.views.float().mean()),
        }
        self.log_dict({f"retrieval/R@{k}": r for k, r in recall.items()}, sync_dist=False)


# The LightningModule of each kind of task (cvrl_pl.tasks.Task.module).
MODULES: dict[str, type[pl.LightningModule]] = {
    "contrastive": CVRLModule,
    "classifier": ClassifierModule,
    "retrieval": RetrievalModule,
}
