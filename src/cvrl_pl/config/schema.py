"""The configuration schema: one tree of dataclasses whose defaults are the paper's recipe (docs/recipe.md).

Every field carries a one-line help text (``metadata["help"]``), from which the README's config reference is
generated. A closed set of choices is taken from the registry that defines it (dataset layouts, temporal sampling
laws, encoders, optimisers): adding one there adds it here and to the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvrl_pl.config.eval_schema import EvalConfig
from cvrl_pl.config.fields import section, setting
from cvrl_pl.data.index.listing import REINDEX
from cvrl_pl.data.layouts import LAYOUT_CHOICES
from cvrl_pl.models.encoders import ENCODERS
from cvrl_pl.models.heads import HEADS
from cvrl_pl.models.padding import PADDINGS
from cvrl_pl.optim import OPTIMIZERS, SCHEDULES
from cvrl_pl.tasks import TASKS
from dali_pipelines.sampling import DISTRIBUTIONS


@dataclass
class SplitConfig:
    """A dataset split on disk: where it is and how its files are laid out (README, Datasets)."""

    root: str | None = setting(None, "dataset root on disk")
    layout: str = setting("auto", "dataset layout: {choices} (README, Datasets)", LAYOUT_CHOICES)
    csv: str | None = setting(None, "list file: path,label CSV, or the Kinetics annotation CSV")
    annotations: str | None = setting(
        None,
        "folder of the official lists (layouts ucf101, hmdb51, ssv2, charades, gym99, finegym_*; README, Datasets)",
    )
    split: int = setting(1, "official split of the annotations: 1-3 for ucf101 and hmdb51, 1 for the others")
    subset: str | None = setting(
        None, "subset of the split: train or test (ssv2: train or validation; gym99: train or val)"
    )
    index: str | None = setting(
        None, "index folder to build or reuse (default: <root>/.cvrl_index; for a URL root ~/.cache/cvrl-pl/index/)"
    )
    storage_options: dict = setting(
        {},
        "for a root on object storage (s3://, http(s)://, ...): options of its fsspec filesystem, such as "
        "{endpoint_url: ..., key: ..., secret: ...}; default: the AWS_* environment (docs/web_scale.md)",
    )
    verify: str = setting("first", "what indexing decodes of each file: {choices} frame(s)", ("first", "full"))
    reindex: str = setting(
        "auto",
        "when a start lists the dataset again to check a saved index: {choices}; auto: only if the root's "
        "top-level entries, a folder of videos or the list files changed (README, Datasets)",
        REINDEX,
    )


@dataclass
class GeneratedDataConfig:
    """Procedural videos made in memory (``data.source=generated``): a moving textured object per video."""

    num_videos: int = setting(256, "number of distinct generated videos in an epoch")
    num_video_frames: int = setting(64, "frames per generated video")
    size: int = setting(64, "height and width of the generated frames, in pixels")
    seed: int = setting(0, "seed of the generator: video i is the same in every run")


@dataclass
class DataConfig(SplitConfig):
    """The training split and how its clips are made."""

    root: str = setting("data/kinetics400/train", "dataset root on disk (the training split)")
    source: str = setting(
        "video", "where clips come from: {choices}: files on disk through DALI, or in memory", ("video", "generated")
    )
    generate: str | None = setting(
        None, "write the built-in demo dataset (train/, val/) to this folder first if missing"
    )
    decoder: str = setting(
        "auto",
        "{choices}: auto picks per video NVDEC, DALI's CPU decoder or PyAV by what the device decodes "
        "(docs/data_pipeline.md); dali: the same, but a video only PyAV reads is an error; pyav: PyAV for all",
        ("auto", "dali", "pyav"),
    )
    label_fraction: float = setting(
        1.0,
        "linear_eval / finetune on this fraction of the training labels: per class, that fraction of its videos "
        "(at least one), drawn by data.label_seed; listed in the run's label_subset.txt (docs/recipe.md)",
    )
    label_seed: int = setting(0, "seed of the data.label_fraction draw (separate from trainer.seed)")
    label_subset: str | None = setting(
        None,
        "linear_eval / finetune on exactly these training videos (instead of a data.label_fraction draw): a "
        "file of paths relative to data.root, one per line, such as a run's label_subset.txt",
    )
    shuffle: bool = setting(True, "shuffle the videos every epoch (same order on every rank; shards stay disjoint)")
    last_batch: str = setting(
        "fill", "{choices}: pad the last batch with repeats, or drop the remainder", ("fill", "drop")
    )
    dali_threads: str = setting(
        "auto",
        "DALI threads per pipeline: a number, or auto: 2 on a CPU, on a GPU enough to keep its NVDEC engines busy "
        "within the rank's CPU cores (docs/data_pipeline.md)",
    )
    num_frames: int = setting(16, "frames per clip")
    stride: int = setting(2, "temporal stride between the frames of a clip, in stored frames")
    crop_size: int = setting(224, "output height and width of each view, in pixels")
    batch_size: int = setting(
        1024, "GLOBAL batch of videos (each gives aug.num_clips clips), split evenly over all devices"
    )
    num_workers: int = setting(4, "Python worker processes per device that read files (and decode, with PyAV)")
    max_bad_batch_share: float = setting(0.5, "stop when more than this share of one batch's videos fail to decode")
    max_bad_epoch_share: float = setting(
        0.1, "stop when more than this share of one epoch's videos (per rank) fail to decode"
    )
    reader_fault_videos: int = setting(
        3,
        "stop when this many videos of one codec fail the same way before decoding (a fault of the reader, not "
        "of the videos, which would otherwise all be left out); 0: never",
    )
    generated: GeneratedDataConfig = section(GeneratedDataConfig, "the in-memory generated dataset")


@dataclass
class TemporalAugConfig:
    distribution: str = setting("decreasing", "law of the gap between two clip starts: {choices}", tuple(DISTRIBUTIONS))
    power: float = setting(1.0, "p of the decreasing law P(t) ~ (1 - t/M)^p; 1 is the paper's linear decrease")
    gap: int = setting(0, "gap in stored frames for distribution=fixed (capped at the largest possible)")


@dataclass
class AugConfig:
    num_clips: int = setting(2, "rho: clips per video (2: CVRL; more: clip k >= 3 pairs with clip 1 by the gap law)")
    temporal: TemporalAugConfig = section(TemporalAugConfig, "CVRL temporal interval sampling")
    consistent: bool = setting(
        True, "draw spatial augmentations once per clip (false: per frame, the paper's ablation)"
    )
    strength: float = setting(1.0, "colour-jitter strength s, scaling brightness/contrast/saturation 0.8s and hue 0.2s")
    crop_area: list[float] = setting([0.3, 1.0], "random resized crop: range of the crop's area fraction")
    crop_aspect: list[float] = setting([0.5, 2.0], "random resized crop: range of the aspect ratio")
    flip_prob: float = setting(0.5, "probability of a horizontal flip")
    jitter_prob: float = setting(0.8, "probability of colour jitter")
    grayscale_prob: float = setting(0.2, "probability of grayscale")
    blur_prob: list[float] = setting(
        [1.0, 0.1], "probability of Gaussian blur: one per clip, or view 1 and view 2 (alternating over the clips)"
    )
    blur_sigma: list[float] = setting([0.1, 2.0], "range of the blur's sigma")
    solarize_prob: list[float] = setting(
        [0.0, 0.2], "probability of solarization: one per clip, or view 1 and view 2 (alternating over the clips)"
    )


@dataclass
class ModelConfig:
    encoder: str = setting("r3d50", "backbone: {choices}", tuple(ENCODERS))
    width: int = setting(1, "width multiplier of every stage (the paper's 2x and 4x models)")
    base_channels: int = setting(
        64, "channels of the stem and first stage (64 in the paper; 16 makes a CPU-sized model)"
    )
    padding: str = setting(
        "symmetric", "{choices}: PyTorch's k // 2 padding, or TensorFlow's SAME (the official weights)", PADDINGS
    )
    input_mean: list[float] = setting(
        [0.0, 0.0, 0.0],
        "the encoder's input is (x - input_mean) / input_std per RGB channel of pixels in [0, 1]: CVRL's is the pixels "
        "as they are; SEVERE's R(2+1)D-18 checkpoints take ImageNet's [0.485, 0.456, 0.406] / [0.229, 0.224, 0.225] "
        "(an encoder file records its own)",
    )
    input_std: list[float] = setting([1.0, 1.0, 1.0], "see model.input_mean")
    zero_init_residual: bool = setting(False, "initialise the last BN of each residual block to zero")
    init: str | None = setting(
        None,
        "encoder weights to start from: a pretraining checkpoint (.ckpt), an exported encoder or a torchvision-layout "
        "R(2+1)D-18 state dict (SEVERE's checkpoints)",
    )
    classifier_dropout: float = setting(0.5, "dropout before the classifier when fine-tuning")
    proj_hidden_dim: int = setting(2048, "width of the projection head's hidden layers")
    proj_layers: int = setting(3, "number of [Linear, BN, ReLU] hidden layers in the projection head")
    proj_out_dim: int = setting(128, "dimension of the projection the loss sees")
    channels_last_3d: bool = setting(True, "use the channels_last_3d memory format, the layout the pipelines deliver")
    compile: bool = setting(False, "torch.compile the encoder (in place: checkpoints keep their keys)")


@dataclass
class LossConfig:
    temperature: float = setting(0.1, "NT-Xent temperature")
    update_scale: str = setting(
        "mean",
        "{choices}: the mean over anchors (ours), or the official code's update, 2 x world size times the loss and "
        "world size times optim.weight_decay (with optim.name=sgd_keras: its exact SGD step; docs/recipe.md)",
        ("mean", "official"),
    )


@dataclass
class OptimConfig:
    name: str = setting("sgd", "optimiser: {choices}", tuple(OPTIMIZERS))
    base_lr: float = setting(
        0.08, "learning rate per 256 videos; peak LR = base_lr * global_batch / 256 (0.32 at 1024)"
    )
    momentum: float = setting(0.9, "momentum of SGD and LARS (AdamW ignores it)")
    weight_decay: float = setting(1e-6, "weight decay on conv and linear weights (never on BN or biases)")
    warmup_epochs: float = setting(5.0, "epochs of per-step linear warm-up from 0 to the peak LR")
    schedule: str = setting(
        "cosine", "after the warm-up: {choices}: cosine decay to 0, or times optim.gamma at each milestone", SCHEDULES
    )
    milestones: list[int] = setting(
        [], "optim.schedule=multistep: the epochs at which the LR is multiplied by optim.gamma"
    )
    gamma: float = setting(0.1, "optim.schedule=multistep: the factor at each milestone")
    lars_eta: float = setting(0.001, "LARS trust coefficient")
    grad_clip: float = setting(0.0, "clip the gradients' global norm to this (0: never; V-JEPA's attentive probe: 1.0)")


@dataclass
class TrainerConfig:
    max_epochs: int = setting(800, "pretraining epochs")
    max_steps: int = setting(-1, "stop after this many optimiser steps (-1: run max_epochs)")
    accelerator: str = setting("auto", "Lightning accelerator: auto|cpu|gpu")
    devices: Any = setting("auto", "devices per node (an int, or auto)")
    num_nodes: int = setting(1, "number of nodes")
    precision: str = setting(
        "auto", "auto (bf16-mixed where the GPU supports it, else 32-true), 32-true, bf16-mixed, ..."
    )
    seed: int = setting(0, "global seed")
    output_dir: str = setting("runs", "folder that holds one sub-folder per run")
    run_name: str = setting("cvrl", "name of this run's folder under output_dir")
    resume: str = setting("auto", "auto (continue from the run folder's last.ckpt if present), never, or a .ckpt path")
    log_every_n_steps: int = setting(10, "logging interval in steps")
    checkpoint_every_n_steps: int = setting(1000, "also save last.ckpt every N steps (0: only at epoch ends)")
    trace_batches: bool = setting(False, "write each rank's per-step video ids, batch size and loss to <run>/trace/")
    data_wait_warn: float = setting(
        0.2, "on a GPU, warn once when a logging window waits more than this fraction for batches (0: never)"
    )


@dataclass
class ValConfig(SplitConfig):
    """The labelled validation split: the probes' queries and the protocols' test set."""

    root: str | None = setting(None, "labelled validation split; the kNN and linear probes run only when it is set")


@dataclass
class ProbeSplitConfig(SplitConfig):
    """The labelled split the probes fit on (the kNN bank, the linear probe's training set)."""

    root: str | None = setting(None, "labelled training split for the probes (null: the data.* split)")


@dataclass
class ProbeConfig:
    """kNN and linear probes of the backbone during pretraining, on cached features."""

    train: ProbeSplitConfig = section(ProbeSplitConfig, "the probes' labelled training split")
    every_n_epochs: int = setting(10, "run the kNN and linear-probe evaluation every N epochs (0: only at the end)")
    batch_size: int = setting(32, "GLOBAL batch of clips when extracting the probes' features")
    knn_k: int = setting(200, "kNN neighbours (capped at the bank size)")
    knn_temperature: float = setting(0.1, "kNN vote weight exp(sim / T)")
    epochs: int = setting(100, "epochs of the linear probe on cached features")
    lr: float = setting(0.01, "Adam learning rate of the linear probe")
    views: list[int] = setting([1, 1], "temporal x spatial test views per video for the probes' features")
    head: str = setting(
        "linear",
        "the probe fit on the cached pooled features: {choices} (models.heads; one that is a linear layer)",
        tuple(HEADS),
    )


@dataclass
class WandbConfig:
    mode: str = setting(
        "offline",
        "{choices}: offline writes to <run>/wandb (`wandb sync` uploads it later)",
        ("offline", "online", "disabled"),
    )
    project: str = setting("cvrl-pl", "W&B project")
    entity: str | None = setting(None, "W&B team or user (default: your W&B default)")
    tags: list[str] = setting([], "W&B run tags")
    preview_clips: int = setting(4, "clips of the first training batch logged as an augmentation preview (0: none)")


@dataclass
class LoggerConfig:
    wandb: WandbConfig = section(WandbConfig, "Weights & Biases")


@dataclass
class Config:
    task: str = setting(
        "pretrain",
        "{choices}: CVRL pretraining, frozen encoder + linear layer, end-to-end fine-tuning, frozen encoder + "
        "attentive probe, or video retrieval",
        tuple(TASKS),
    )
    data: DataConfig = section(DataConfig, "videos and clips")
    aug: AugConfig = section(AugConfig, "temporal and spatial augmentation")
    model: ModelConfig = section(ModelConfig, "encoder and projection head")
    loss: LossConfig = section(LossConfig, "contrastive objective")
    optim: OptimConfig = section(OptimConfig, "optimiser and learning-rate schedule")
    trainer: TrainerConfig = section(TrainerConfig, "Lightning trainer and run folder")
    val: ValConfig = section(ValConfig, "labelled validation split")
    probe: ProbeConfig = section(ProbeConfig, "kNN and linear probes during pretraining")
    eval: EvalConfig = section(EvalConfig, "linear-evaluation and fine-tuning protocols")
    logger: LoggerConfig = section(LoggerConfig, "metric loggers besides the CSV files, which are always written")
