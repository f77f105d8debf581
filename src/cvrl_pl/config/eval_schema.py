"""The protocols' section of the configuration schema (``eval.*``): clips, test views, selection rules, seeds, the
classification heads and their grid."""

from __future__ import annotations

from dataclasses import dataclass

from cvrl_pl.config.fields import section, setting
from cvrl_pl.models.attentive import PoolerSpec
from cvrl_pl.models.heads import HEADS


@dataclass
class AttentiveConfig:
    """The attentive probe's pooler (task=attentive_probe, eval.head=attentive; models/attentive.py)."""

    # The defaults are the pooler's own (models.attentive.PoolerSpec), written once there.
    width: int = setting(PoolerSpec.width, "width the feature map's channels are projected to (R3D-50: from 2048)")
    self_blocks: int = setting(PoolerSpec.self_blocks, "self-attention blocks before the cross-attention (V-JEPA 2: 3)")
    heads: int = setting(PoolerSpec.heads, "attention heads, dividing the width (V-JEPA: 16)")
    mlp_ratio: float = setting(PoolerSpec.mlp_ratio, "the blocks' MLP hidden width over the token width (V-JEPA: 4)")


@dataclass
class HeadGridConfig:
    """Heads trained at once on the same frozen features, over a grid of learning rates and weight decays, one chosen
    on training videos held out from them (protocols.classify)."""

    lr: list[float] = setting(
        [],
        "base learning rates (x batch / 256, as optim.base_lr) of heads trained at once on one frozen encoder's "
        "features, one head per lr x weight decay (V-JEPA 2: [5e-3, 3e-3, 1e-3, 3e-4, 1e-4]); []: optim.base_lr, "
        "and no grid unless eval.heads.weight_decay is set",
    )
    weight_decay: list[float] = setting(
        [], "the grid's weight decays (V-JEPA 2: [0.01, 0.1, 0.4, 0.8]); []: optim.weight_decay"
    )
    holdout: float = setting(
        0.1,
        "with a grid: the fraction of each class's training videos held out, never trained on, to choose the head "
        "(by top-1, or mAP, over the test views); listed in <run>/holdout.txt",
    )
    holdout_seed: int = setting(0, "the seed of the held-out draw")


@dataclass
class EvalConfig:
    """The protocols (task=linear_eval|finetune|retrieval): clips, test views, retrieval's k, multi-label targets."""

    batch_size: int = setting(32, "GLOBAL batch of test views")
    num_frames: int = setting(32, "frames per clip (the paper: 32)")
    stride: int = setting(2, "temporal stride, in stored frames (unless eval.fps is set)")
    fps: float | None = setting(
        None,
        "sample clips by time: frames 1/fps seconds apart at every video's own frame rate, a short video looped "
        "(SEVERE: 16); null: every eval.stride-th stored frame",
    )
    crop_size: int = setting(224, "training crop")
    crop_area: list[float] = setting([0.3, 1.0], "training clips' random resized crop: range of the area fraction")
    crop_aspect: list[float] = setting([0.5, 2.0], "training clips' random resized crop: range of the aspect ratio")
    flip_prob: float = setting(0.5, "training clips' probability of a horizontal flip")
    jitter: list[float] = setting(
        [],
        "training clips' colour jitter, once per clip: the maximal [brightness, contrast, saturation, hue] changes "
        "as torchvision's ColorJitter takes them (SEVERE: [0.4, 0.4, 0.4, 0.2]); []: none",
    )
    train_clips: int = setting(1, "training clips drawn from each video per epoch (SEVERE: 10)")
    segments: int = setting(
        1,
        "clips per view (V-JEPA's segments): the video is cut into this many equal parts, a training sample draws "
        "a clip from each and a test view takes its clip at the same place in each; the clips are encoded one by "
        "one and their feature maps concatenated along time before the head (V-JEPA: 8 on K400, 2 on SSv2)",
    )
    selection: list[str] = setting(
        ["last"],
        "which weights are tested: any of {choices}: the last epoch's (the clean protocol), and the epoch whose "
        "test-split score is best (SEVERE's rule: it sees the test split; reported under that name)",
        ("last", "best_on_test"),
    )
    seeds: list[int] = setting(
        [],
        "run the protocol once per seed (trainer.seed), each in <run_name>/seed<N>, then metrics.json and report.md "
        "with every seed's metrics, their mean and sample std; []: one run",
    )
    select_clips: int = setting(
        3, "eval.selection=best_on_test: clips per test video (one centre crop each) scored after every epoch"
    )
    num_temporal: int = setting(10, "test views: clips per video, evenly spaced")
    num_spatial: int = setting(3, "test views: square crops along the long side of each clip")
    short_side: int = setting(256, "test views: short side after resizing")
    test_crop_size: int = setting(256, "test views: side of each square crop")
    recall_at: list[int] = setting([1, 5, 10, 20, 50], "task=retrieval: the k of R@k")
    head: str = setting(
        "linear",
        "the classifier linear_eval and finetune train on the encoder's feature map: {choices} (models.heads: "
        "linear: pooled, L2-normalised when frozen, one linear layer; attentive: eval.attentive's pooler, the head "
        "task=attentive_probe always trains)",
        tuple(HEADS),
    )
    attentive: AttentiveConfig = section(AttentiveConfig, "the attentive probe's pooler")
    heads: HeadGridConfig = section(HeadGridConfig, "a grid of heads on frozen features, chosen on held-out videos")
    clip_targets: str = setting(
        "overlap",
        "multi-label datasets (charades), a training clip's targets: {choices}: the actions its time span overlaps, "
        "or every action of its video",
        ("overlap", "video"),
    )
    combine_views: str = setting(
        "auto",
        "a video's scores from its test views: {choices}; auto is max for a multi-label dataset (charades, the usual "
        "convention), mean otherwise",
        ("auto", "mean", "max"),
    )
