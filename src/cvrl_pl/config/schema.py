"""The configuration schema: one tree of dataclasses whose defaults are the paper's recipe (docs/recipe.md).

Every field carries a one-line help text (``metadata["help"]``), from which the README's config reference is
generated. A closed set of choices is taken from the registry that defines it (dataset layouts, temporal sampling
laws, encoders, optimisers): adding one there adds it here and to the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cvrl_pl.data.index.listing import REINDEX
from cvrl_pl.data.layouts import LAYOUT_CHOICES
from cvrl_pl.models.attentive import PoolerSpec
from cvrl_pl.models.encoders import ENCODERS
from cvrl_pl.models.heads import HEADS
from cvrl_pl.models.padding import PADDINGS
from cvrl_pl.optim import OPTIMIZERS, SCHEDULES
from cvrl_pl.tasks import TASKS
from dali_pipelines.sampling import DISTRIBUTIONS


def _f(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A schema field with a default and a one-line help text for the config reference; ``choices`` closes the
    set of values (checked after merging) and fills ``{choices}`` in the help text."""
    metadata = {"help": help.format(choices="|".join(choices)) if choices else help}
    if choices:
        metadata["choices"] = tuple(choices)
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help})


@dataclass
class SplitConfig:
    """A dataset split on disk: where it is and how its files are laid out (README, Datasets)."""

    root: str | None = _f(None, "dataset root on disk")
    layout: str = _f("auto", "dataset layout: {choices} (README, Datasets)", LAYOUT_CHOICES)
    csv: str | None = _f(None, "list file: path,label CSV, or the Kinetics annotation CSV")
    annotations: str | None = _f(
        None,
        "folder of the official lists (layouts ucf101, hmdb51, ssv2, charades, gym99, finegym_*; README, Datasets)",
    )
    split: int = _f(1, "official split of the annotations: 1-3 for ucf101 and hmdb51, 1 for the others")
    subset: str | None = _f(None, "subset of the split: train or test (ssv2: train or validation; gym99: train or val)")
    index: str | None = _f(
        None, "index folder to build or reuse (default: <root>/.cvrl_index; for a URL root ~/.cache/cvrl-pl/index/)"
    )
    storage_options: dict = _f(
        {},
        "for a root on object storage (s3://, http(s)://, ...): options of its fsspec filesystem, such as "
        "{endpoint_url: ..., key: ..., secret: ...}; default: the AWS_* environment (docs/web_scale.md)",
    )
    verify: str = _f("first", "what indexing decodes of each file: {choices} frame(s)", ("first", "full"))
    reindex: str = _f(
        "auto",
        "when a start lists the dataset again to check a saved index: {choices}; auto: only if the root's "
        "top-level entries, a folder of videos or the list files changed (README, Datasets)",
        REINDEX,
    )


@dataclass
class GeneratedDataConfig:
    """Procedural videos made in memory (``data.source=generated``): a moving textured object per video."""

    num_videos: int = _f(256, "number of distinct generated videos in an epoch")
    num_video_frames: int = _f(64, "frames per generated video")
    size: int = _f(64, "height and width of the generated frames, in pixels")
    seed: int = _f(0, "seed of the generator: video i is the same in every run")


@dataclass
class DataConfig(SplitConfig):
    """The training split and how its clips are made."""

    root: str = _f("data/kinetics400/train", "dataset root on disk (the training split)")
    source: str = _f(
        "video", "where clips come from: {choices}: files on disk through DALI, or in memory", ("video", "generated")
    )
    generate: str | None = _f(None, "write the built-in demo dataset (train/, val/) to this folder first if missing")
    decoder: str = _f(
        "auto",
        "{choices}: auto picks per video NVDEC, DALI's CPU decoder or PyAV by what the device decodes "
        "(docs/data_pipeline.md); dali: the same, but a video only PyAV reads is an error; pyav: PyAV for all",
        ("auto", "dali", "pyav"),
    )
    label_fraction: float = _f(
        1.0,
        "linear_eval / finetune on this fraction of the training labels: per class, that fraction of its videos "
        "(at least one), drawn by data.label_seed; listed in the run's label_subset.txt (docs/recipe.md)",
    )
    label_seed: int = _f(0, "seed of the data.label_fraction draw (separate from trainer.seed)")
    label_subset: str | None = _f(
        None,
        "linear_eval / finetune on exactly these training videos (instead of a data.label_fraction draw): a "
        "file of paths relative to data.root, one per line, such as a run's label_subset.txt",
    )
    shuffle: bool = _f(True, "shuffle the videos every epoch (same order on every rank; shards stay disjoint)")
    last_batch: str = _f("fill", "{choices}: pad the last batch with repeats, or drop the remainder", ("fill", "drop"))
    dali_threads: str = _f(
        "auto",
        "DALI threads per pipeline: a number, or auto: 2 on a CPU, on a GPU enough to keep its NVDEC engines busy "
        "within the rank's CPU cores (docs/data_pipeline.md)",
    )
    num_frames: int = _f(16, "frames per clip")
    stride: int = _f(2, "temporal stride between the frames of a clip, in stored frames")
    crop_size: int = _f(224, "output height and width of each view, in pixels")
    batch_size: int = _f(1024, "GLOBAL batch of videos (each gives aug.num_clips clips), split evenly over all devices")
    num_workers: int = _f(4, "Python worker processes per device that read files (and decode, with PyAV)")
    max_bad_batch_share: float = _f(0.5, "stop when more than this share of one batch's videos fail to decode")
    max_bad_epoch_share: float = _f(
        0.1, "stop when more than this share of one epoch's videos (per rank) fail to decode"
    )
    reader_fault_videos: int = _f(
        3,
        "stop when this many videos of one codec fail the same way before decoding (a fault of the reader, not "
        "of the videos, which would otherwise all be left out); 0: never",
    )
    generated: GeneratedDataConfig = _section(GeneratedDataConfig, "the in-memory generated dataset")


@dataclass
class TemporalAugConfig:
    distribution: str = _f("decreasing", "law of the gap between two clip starts: {choices}", tuple(DISTRIBUTIONS))
    power: float = _f(1.0, "p of the decreasing law P(t) ~ (1 - t/M)^p; 1 is the paper's linear decrease")
    gap: int = _f(0, "gap in stored frames for distribution=fixed (capped at the largest possible)")


@dataclass
class AugConfig:
    num_clips: int = _f(2, "rho: clips per video (2: CVRL; more: clip k >= 3 pairs with clip 1 by the gap law)")
    temporal: TemporalAugConfig = _section(TemporalAugConfig, "CVRL temporal interval sampling")
    consistent: bool = _f(True, "draw spatial augmentations once per clip (false: per frame, the paper's ablation)")
    strength: float = _f(1.0, "colour-jitter strength s, scaling brightness/contrast/saturation 0.8s and hue 0.2s")
    crop_area: list[float] = _f([0.3, 1.0], "random resized crop: range of the crop's area fraction")
    crop_aspect: list[float] = _f([0.5, 2.0], "random resized crop: range of the aspect ratio")
    flip_prob: float = _f(0.5, "probability of a horizontal flip")
    jitter_prob: float = _f(0.8, "probability of colour jitter")
    grayscale_prob: float = _f(0.2, "probability of grayscale")
    blur_prob: list[float] = _f(
        [1.0, 0.1], "probability of Gaussian blur: one per clip, or view 1 and view 2 (alternating over the clips)"
    )
    blur_sigma: list[float] = _f([0.1, 2.0], "range of the blur's sigma")
    solarize_prob: list[float] = _f(
        [0.0, 0.2], "probability of solarization: one per clip, or view 1 and view 2 (alternating over the clips)"
    )


@dataclass
class ModelConfig:
    encoder: str = _f("r3d50", "backbone: {choices}", tuple(ENCODERS))
    width: int = _f(1, "width multiplier of every stage (the paper's 2x and 4x models)")
    base_channels: int = _f(64, "channels of the stem and first stage (64 in the paper; 16 makes a CPU-sized model)")
    padding: str = _f(
        "symmetric", "{choices}: PyTorch's k // 2 padding, or TensorFlow's SAME (the official weights)", PADDINGS
    )
    input_mean: list[float] = _f(
        [0.0, 0.0, 0.0],
        "the encoder's input is (x - input_mean) / input_std per RGB channel of pixels in [0, 1]: CVRL's is the pixels "
        "as they are; SEVERE's R(2+1)D-18 checkpoints take ImageNet's [0.485, 0.456, 0.406] / [0.229, 0.224, 0.225] "
        "(an encoder file records its own)",
    )
    input_std: list[float] = _f([1.0, 1.0, 1.0], "see model.input_mean")
    zero_init_residual: bool = _f(False, "initialise the last BN of each residual block to zero")
    init: str | None = _f(
        None,
        "encoder weights to start from: a pretraining checkpoint (.ckpt), an exported encoder or a torchvision-layout "
        "R(2+1)D-18 state dict (SEVERE's checkpoints)",
    )
    classifier_dropout: float = _f(0.5, "dropout before the classifier when fine-tuning")
    proj_hidden_dim: int = _f(2048, "width of the projection head's hidden layers")
    proj_layers: int = _f(3, "number of [Linear, BN, ReLU] hidden layers in the projection head")
    proj_out_dim: int = _f(128, "dimension of the projection the loss sees")
    channels_last_3d: bool = _f(True, "use the channels_last_3d memory format, the layout the pipelines deliver")
    compile: bool = _f(False, "torch.compile the encoder (in place: checkpoints keep their keys)")


@dataclass
class LossConfig:
    temperature: float = _f(0.1, "NT-Xent temperature")
    update_scale: str = _f(
        "mean",
        "{choices}: the mean over anchors (ours), or the official code's update, 2 x world size times the loss and "
        "world size times optim.weight_decay (with optim.name=sgd_keras: its exact SGD step; docs/recipe.md)",
        ("mean", "official"),
    )


@dataclass
class OptimConfig:
    name: str = _f("sgd", "optimiser: {choices}", tuple(OPTIMIZERS))
    base_lr: float = _f(0.08, "learning rate per 256 videos; peak LR = base_lr * global_batch / 256 (0.32 at 1024)")
    momentum: float = _f(0.9, "momentum of SGD and LARS (AdamW ignores it)")
    weight_decay: float = _f(1e-6, "weight decay on conv and linear weights (never on BN or biases)")
    warmup_epochs: float = _f(5.0, "epochs of per-step linear warm-up from 0 to the peak LR")
    schedule: str = _f(
        "cosine", "after the warm-up: {choices}: cosine decay to 0, or times optim.gamma at each milestone", SCHEDULES
    )
    milestones: list[int] = _f([], "optim.schedule=multistep: the epochs at which the LR is multiplied by optim.gamma")
    gamma: float = _f(0.1, "optim.schedule=multistep: the factor at each milestone")
    lars_eta: float = _f(0.001, "LARS trust coefficient")
    grad_clip: float = _f(0.0, "clip the gradients' global norm to this (0: never; V-JEPA's attentive probe: 1.0)")


@dataclass
class TrainerConfig:
    max_epochs: int = _f(800, "pretraining epochs")
    max_steps: int = _f(-1, "stop after this many optimiser steps (-1: run max_epochs)")
    accelerator: str = _f("auto", "Lightning accelerator: auto|cpu|gpu")
    devices: Any = _f("auto", "devices per node (an int, or auto)")
    num_nodes: int = _f(1, "number of nodes")
    precision: str = _f("auto", "auto (bf16-mixed where the GPU supports it, else 32-true), 32-true, bf16-mixed, ...")
    seed: int = _f(0, "global seed")
    output_dir: str = _f("runs", "folder that holds one sub-folder per run")
    run_name: str = _f("cvrl", "name of this run's folder under output_dir")
    resume: str = _f("auto", "auto (continue from the run folder's last.ckpt if present), never, or a .ckpt path")
    log_every_n_steps: int = _f(10, "logging interval in steps")
    checkpoint_every_n_steps: int = _f(1000, "also save last.ckpt every N steps (0: only at epoch ends)")
    trace_batches: bool = _f(False, "write each rank's per-step video ids, batch size and loss to <run>/trace/")
    data_wait_warn: float = _f(
        0.2, "on a GPU, warn once when a logging window waits more than this fraction for batches (0: never)"
    )


@dataclass
class ValConfig(SplitConfig):
    """The labelled validation split: the probes' queries and the protocols' test set."""

    root: str | None = _f(None, "labelled validation split; the kNN and linear probes run only when it is set")


@dataclass
class ProbeSplitConfig(SplitConfig):
    """The labelled split the probes fit on (the kNN bank, the linear probe's training set)."""

    root: str | None = _f(None, "labelled training split for the probes (null: the data.* split)")


@dataclass
class ProbeConfig:
    """kNN and linear probes of the backbone during pretraining, on cached features."""

    train: ProbeSplitConfig = _section(ProbeSplitConfig, "the probes' labelled training split")
    every_n_epochs: int = _f(10, "run the kNN and linear-probe evaluation every N epochs (0: only at the end)")
    batch_size: int = _f(32, "GLOBAL batch of clips when extracting the probes' features")
    knn_k: int = _f(200, "kNN neighbours (capped at the bank size)")
    knn_temperature: float = _f(0.1, "kNN vote weight exp(sim / T)")
    epochs: int = _f(100, "epochs of the linear probe on cached features")
    lr: float = _f(0.01, "Adam learning rate of the linear probe")
    views: list[int] = _f([1, 1], "temporal x spatial test views per video for the probes' features")
    head: str = _f(
        "linear",
        "the probe fit on the cached pooled features: {choices} (models.heads; one that is a linear layer)",
        tuple(HEADS),
    )


@dataclass
class AttentiveConfig:
    """The attentive probe's pooler (task=attentive_probe, eval.head=attentive; models/attentive.py)."""

    # The defaults are the pooler's own (models.attentive.PoolerSpec), written once there.
    width: int = _f(PoolerSpec.width, "width the feature map's channels are projected to (R3D-50: from 2048)")
    self_blocks: int = _f(PoolerSpec.self_blocks, "self-attention blocks before the cross-attention (V-JEPA 2: 3)")
    heads: int = _f(PoolerSpec.heads, "attention heads, dividing the width (V-JEPA: 16)")
    mlp_ratio: float = _f(PoolerSpec.mlp_ratio, "the blocks' MLP hidden width over the token width (V-JEPA: 4)")


@dataclass
class EvalConfig:
    """The protocols (task=linear_eval|finetune|retrieval): clips, test views, retrieval's k, multi-label targets."""

    batch_size: int = _f(32, "GLOBAL batch of test views")
    num_frames: int = _f(32, "frames per clip (the paper: 32)")
    stride: int = _f(2, "temporal stride, in stored frames (unless eval.fps is set)")
    fps: float | None = _f(
        None,
        "sample clips by time: frames 1/fps seconds apart at every video's own frame rate, a short video looped "
        "(SEVERE: 16); null: every eval.stride-th stored frame",
    )
    crop_size: int = _f(224, "training crop")
    crop_area: list[float] = _f([0.3, 1.0], "training clips' random resized crop: range of the area fraction")
    crop_aspect: list[float] = _f([0.5, 2.0], "training clips' random resized crop: range of the aspect ratio")
    flip_prob: float = _f(0.5, "training clips' probability of a horizontal flip")
    jitter: list[float] = _f(
        [],
        "training clips' colour jitter, once per clip: the maximal [brightness, contrast, saturation, hue] changes "
        "as torchvision's ColorJitter takes them (SEVERE: [0.4, 0.4, 0.4, 0.2]); []: none",
    )
    train_clips: int = _f(1, "training clips drawn from each video per epoch (SEVERE: 10)")
    selection: list[str] = _f(
        ["last"],
        "which weights are tested: any of {choices}: the last epoch's (the clean protocol), and the epoch whose "
        "test-split score is best (SEVERE's rule: it sees the test split; reported under that name)",
        ("last", "best_on_test"),
    )
    seeds: list[int] = _f(
        [],
        "run the protocol once per seed (trainer.seed), each in <run_name>/seed<N>, then metrics.json and report.md "
        "with every seed's metrics, their mean and sample std; []: one run",
    )
    select_clips: int = _f(
        3, "eval.selection=best_on_test: clips per test video (one centre crop each) scored after every epoch"
    )
    num_temporal: int = _f(10, "test views: clips per video, evenly spaced")
    num_spatial: int = _f(3, "test views: square crops along the long side of each clip")
    short_side: int = _f(256, "test views: short side after resizing")
    test_crop_size: int = _f(256, "test views: side of each square crop")
    recall_at: list[int] = _f([1, 5, 10, 20, 50], "task=retrieval: the k of R@k")
    head: str = _f(
        "linear",
        "the classifier linear_eval and finetune train on the encoder's feature map: {choices} (models.heads: "
        "linear: pooled, L2-normalised when frozen, one linear layer; attentive: eval.attentive's pooler, the head "
        "task=attentive_probe always trains)",
        tuple(HEADS),
    )
    attentive: AttentiveConfig = _section(AttentiveConfig, "the attentive probe's pooler")
    clip_targets: str = _f(
        "overlap",
        "multi-label datasets (charades), a training clip's targets: {choices}: the actions its time span overlaps, "
        "or every action of its video",
        ("overlap", "video"),
    )
    combine_views: str = _f(
        "auto",
        "a video's scores from its test views: {choices}; auto is max for a multi-label dataset (charades, the usual "
        "convention), mean otherwise",
        ("auto", "mean", "max"),
    )


@dataclass
class WandbConfig:
    mode: str = _f(
        "offline",
        "{choices}: offline writes to <run>/wandb (`wandb sync` uploads it later)",
        ("offline", "online", "disabled"),
    )
    project: str = _f("cvrl-pl", "W&B project")
    entity: str | None = _f(None, "W&B team or user (default: your W&B default)")
    tags: list[str] = _f([], "W&B run tags")
    preview_clips: int = _f(4, "clips of the first training batch logged as an augmentation preview (0: none)")


@dataclass
class LoggerConfig:
    wandb: WandbConfig = _section(WandbConfig, "Weights & Biases")


@dataclass
class Config:
    task: str = _f(
        "pretrain",
        "{choices}: CVRL pretraining, frozen encoder + linear layer, end-to-end fine-tuning, frozen encoder + "
        "attentive probe, or video retrieval",
        tuple(TASKS),
    )
    data: DataConfig = _section(DataConfig, "videos and clips")
    aug: AugConfig = _section(AugConfig, "temporal and spatial augmentation")
    model: ModelConfig = _section(ModelConfig, "encoder and projection head")
    loss: LossConfig = _section(LossConfig, "contrastive objective")
    optim: OptimConfig = _section(OptimConfig, "optimiser and learning-rate schedule")
    trainer: TrainerConfig = _section(TrainerConfig, "Lightning trainer and run folder")
    val: ValConfig = _section(ValConfig, "labelled validation split")
    probe: ProbeConfig = _section(ProbeConfig, "kNN and linear probes during pretraining")
    eval: EvalConfig = _section(EvalConfig, "linear-evaluation and fine-tuning protocols")
    logger: LoggerConfig = _section(LoggerConfig, "metric loggers besides the CSV files, which are always written")
