"""The protocols (task=linear_eval|finetune|retrieval): a given encoder tested on val.* after data.*, written to
metrics.json with the checkpoint selection rule, the test views and the seed; each rule of eval.selection (the last
epoch's weights, or SEVERE's best epoch on the test split) gets its own metrics file and predictions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from cvrl_pl.data.datamodule import EvalClips, eval_loader
from cvrl_pl.data.holdout import HOLDOUT_FILE, hold_out
from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.label_subset import training_subset
from cvrl_pl.data.labelled import labelled_splits
from cvrl_pl.data.multilabel import is_multilabel
from cvrl_pl.errors import ConfigError
from cvrl_pl.eval.features import save_predictions
from cvrl_pl.module import MODULES, SELECT_SCORE, head_grid
from cvrl_pl.tasks import TASKS

BEST_ON_TEST = "best_on_test"  # the checkpoint eval.selection=best_on_test keeps: checkpoints/best_on_test.ckpt


def evaluate_protocol(cfg: DictConfig, trainer: pl.Trainer, run_dir: Path, ckpt: str | None) -> dict:
    """A protocol on the data.* (training) and val.* (test) splits, by the kind of module its task row names:
    metrics.json (and, for each further rule of eval.selection, metrics_<rule>.json), each naming its checkpoint
    selection rule, the test views and the seed, with the headline metrics printed. Returns the first."""
    task = TASKS[cfg.task]
    if not cfg.val.root:
        raise ConfigError(f"task={cfg.task} needs val.root, the labelled split to test on")
    if not cfg.model.init and trainer.is_global_zero:
        print(f"warning: task={cfg.task} without model.init starts from a random encoder", file=sys.stderr)
    splits = labelled_splits(cfg.data, cfg.val, sections=("data", "val"), multilabel=task.multilabel)
    outcome = PROTOCOLS[task.module](cfg, trainer, splits, run_dir=run_dir, ckpt=ckpt)
    written = []
    for rule, results in outcome.items():
        metrics = {
            "task": cfg.task,
            "init": cfg.model.init,
            **({"selection": rule} if task.trains else {}),
            **results,
            "seed": cfg.trainer.seed,
        }
        if trainer.is_global_zero:
            (run_dir / rule_file("metrics.json", rule, first=first_rule(cfg))).write_text(json.dumps(metrics, indent=1))
            shown = ", ".join(f"{_label(k)} {results[k]:.2f}" for k in task.headline(results))
            named = f" ({SELECTION_NAMES[rule]})" if rule not in ("last", "frozen") else ""
            print(f"{cfg.task}{named}: {shown} over {len(splits[1].videos)} test videos")
        written.append(metrics)
    return written[0]


# How each checkpoint selection rule (eval.selection) is named where it is reported.
SELECTION_NAMES = {
    "last": "last epoch",
    "best_on_test": "best epoch on the test split, SEVERE's rule",
}


def rule_file(name: str, rule: str, *, first: str) -> str:
    """The file a selection rule's results go to: ``name`` for the ``first`` rule (eval.selection's first, or the
    one rule of a protocol that trains nothing), ``<stem>_<rule><suffix>`` for the others."""
    if rule == first:
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}_{rule}{dot}{suffix}"


def first_rule(cfg: DictConfig) -> str:
    """The rule whose results take the plain file names: eval.selection's first, or ``frozen`` (retrieval)."""
    return cfg.eval.selection[0] if TASKS[cfg.task].trains else "frozen"


def view_protocol(clips: EvalClips) -> dict:
    """How the test views were cut, as metrics.json records it: clips x crops per video, the clips each view joins
    (eval.segments), frames and their spacing (a stride in stored frames, or a rate), the crop and the short side."""
    spacing = {"fps": clips.fps} if clips.fps else {"stride": clips.stride}
    return {
        "clips": clips.num_temporal,
        "crops": clips.num_spatial,
        "segments": clips.segments,
        "frames": clips.num_frames,
        **spacing,
        "crop_size": clips.crop_size,
        "short_side": clips.short_side or clips.crop_size,
    }


def _label(metric: str) -> str:
    """How a metrics.json key is printed: top1 as top-1, the others as they are."""
    return metric.replace("top", "top-") if metric[:3] == "top" else metric


def classify(cfg: DictConfig, trainer: pl.Trainer, splits: tuple, *, run_dir: Path, ckpt: str | None) -> dict:
    """Linear evaluation or fine-tuning: train a classifier head on data.*, then test val.* with eval.num_temporal x
    eval.num_spatial views per video, once per rule of eval.selection (with best_on_test, the test split's
    eval.select_clips centre crops are scored after every epoch and the best epoch kept); predictions.npz beside
    metrics.json. With a grid of heads (eval.heads), every head trains at once on the frozen features of data.* less
    a held-out part (holdout.txt), and the one best on the held-out videos is tested. Returns each rule's results."""
    d, e = cfg.data, cfg.eval
    train_index, val_index = splits
    clip = {"num_frames": e.num_frames, "stride": e.stride, "fps": e.fps, "segments": e.segments}
    train_clips = EvalClips(crop_size=e.crop_size, train_clips=e.train_clips, **clip)
    test_clips = EvalClips(
        crop_size=e.test_crop_size,
        num_temporal=e.num_temporal,
        num_spatial=e.num_spatial,
        short_side=e.short_side,
        **clip,
    )
    train_index = training_subset(d, train_index, run_dir, resuming=ckpt is not None, write=trainer.is_global_zero)
    grid = head_grid(cfg)
    if grid:  # the videos that choose the grid's head: none of them trains a head, and none is a test video
        h = e.heads
        train_index, held = hold_out(train_index, h.holdout, h.holdout_seed, run_dir, write=trainer.is_global_zero)
    train = eval_loader(cfg, train_index, trainer, mode="train", batch_size=d.batch_size, clips=train_clips)
    test = eval_loader(cfg, val_index, trainer, mode="test", batch_size=e.batch_size, clips=test_clips)
    select = None
    if "best_on_test" in e.selection:
        select_clips = EvalClips(
            crop_size=e.test_crop_size, num_temporal=e.select_clips, short_side=e.short_side, **clip
        )
        select = eval_loader(cfg, val_index, trainer, mode="test", batch_size=e.batch_size, clips=select_clips)
    module = MODULES["classifier"](cfg, len(train_index.classes), multilabel=is_multilabel(train_index))
    trainer.fit(module, train_dataloaders=train, val_dataloaders=select, ckpt_path=ckpt, weights_only=True)
    # A grid tests its last epoch only (config check): its head is chosen once, on the held-out videos.
    choice = choose_head(cfg, module, trainer, held, clips=test_clips) if grid else {}
    # The last epoch's weights, kept only where another rule's will replace them before they are tested.
    last = {k: v.detach().clone() for k, v in module.state_dict().items()} if len(e.selection) > 1 else None
    outcome = {}
    for rule in e.selection:
        chosen = choice
        if rule == "best_on_test":
            chosen = load_best(module, run_dir)
        elif last is not None:
            module.load_state_dict(last)
        trainer.validate(module, dataloaders=test)
        outcome[rule] = {**module.results, **chosen, "protocol": view_protocol(test_clips)}
        if trainer.is_global_zero:
            path = run_dir / rule_file("predictions.npz", rule, first=e.selection[0])
            save_predictions(path, module.predictions, val_index.videos.paths, val_index.classes)
    return outcome


def choose_head(
    cfg: DictConfig, module: pl.LightningModule, trainer: pl.Trainer, held: VideoIndex, *, clips: EvalClips
) -> dict:
    """Score every head of eval.heads' grid on the ``held`` out videos (their test views ``clips``) and make the best
    the module's chosen head (the first of equals); returns, for metrics.json, every head's held-out scores, the
    choice, and what the held-out part was."""
    h = cfg.eval.heads
    loader = eval_loader(cfg, held, trainer, mode="test", batch_size=cfg.eval.batch_size, clips=clips)
    module.log_prefix = "holdout"
    trainer.validate(module, dataloaders=loader)
    module.log_prefix = "val"
    key = "mAP" if module.multilabel else "top1"
    scores = [r[key] for r in module.head_results]
    module.chosen = scores.index(max(scores))
    heads = [
        {"lr": lr, "weight_decay": wd, "holdout": result}
        for (lr, wd), result in zip(head_grid(cfg), module.head_results, strict=True)
    ]
    drawn = {"fraction": h.holdout, "seed": h.holdout_seed, "list": HOLDOUT_FILE, "videos": len(held.videos)}
    return {"heads": heads, "chosen_head": module.chosen, "holdout": {**drawn, "chosen_by": key}}


def load_best(module: pl.LightningModule, run_dir: Path) -> dict:
    """Load the weights of the epoch that eval.selection=best_on_test kept; returns that epoch (1-based) and its
    per-epoch test score."""
    path = run_dir / "checkpoints" / f"{BEST_ON_TEST}.ckpt"
    if not path.is_file():
        raise ConfigError(f"eval.selection=best_on_test: no {path}: the run saved no per-epoch test score")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    module.load_state_dict(blob["state_dict"])
    best = next(v for k, v in blob["callbacks"].items() if SELECT_SCORE in k)
    return {"selected_epoch": int(blob["epoch"]) + 1, "selection_score": float(best["best_model_score"])}


def retrieve(cfg: DictConfig, trainer: pl.Trainer, splits: tuple, *, run_dir: Path, ckpt: str | None) -> dict:
    """Retrieval: val.* videos query data.* videos with the frozen encoder, eval.num_temporal clips each, one centre
    crop per clip on gallery and queries alike."""
    e = cfg.eval
    clips = EvalClips(e.num_frames, e.stride, e.test_crop_size, e.num_temporal, 1, e.short_side, e.fps)
    module = MODULES["retrieval"](cfg)
    trainer.validate(
        module, [eval_loader(cfg, i, trainer, mode="test", batch_size=e.batch_size, clips=clips) for i in splits]
    )
    return {"frozen": {**module.results, "protocol": view_protocol(clips)}}


# How each kind of protocol module (cvrl_pl.tasks.Task.module) runs: (cfg, trainer, (train, test) indexes, *,
# run_dir, ckpt) -> {selection rule: results}.
PROTOCOLS = {"classifier": classify, "retrieval": retrieve}


def finished(run_dir: Path, cfg: DictConfig) -> bool:
    """Whether ``run_dir`` holds the metrics of a finished run of exactly ``cfg`` (of every selection rule)."""
    saved = run_dir / "config.yaml"
    rules = cfg.eval.selection if TASKS[cfg.task].trains else ["frozen"]
    written = all((run_dir / rule_file("metrics.json", rule, first=first_rule(cfg))).is_file() for rule in rules)
    return written and saved.is_file() and OmegaConf.load(saved) == cfg
