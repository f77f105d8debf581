"""The training entry point: config -> DataModule, LightningModule, callbacks, loggers -> Trainer.fit.

``python train.py --config conf/pretrain.yaml [dotted.key=value ...]`` (or ``python -m cvrl_pl.train``);
``--splits 1,2,3`` runs a protocol (task=linear_eval|finetune|retrieval) on each official split and summarises.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, read_write
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities import rank_zero_only

from cvrl_pl.callbacks.finite_loss import FiniteLossGuard, NonFiniteLossError
from cvrl_pl.callbacks.preemption import Preempted, PreemptionCallback
from cvrl_pl.callbacks.preview import AugmentationPreview
from cvrl_pl.callbacks.probes import ProbeCallback
from cvrl_pl.callbacks.progress import LogStepProgressBar
from cvrl_pl.callbacks.report import ReportCallback
from cvrl_pl.callbacks.throughput import ThroughputMonitor
from cvrl_pl.callbacks.trace import BatchTraceCallback
from cvrl_pl.config import load_config
from cvrl_pl.data.datamodule import CVRLDataModule
from cvrl_pl.data.generated import GeneratedDataModule
from cvrl_pl.data.synthetic import SyntheticSpec, generate
from cvrl_pl.errors import ConfigError, DatasetError
from cvrl_pl.eval.splits import report_table, summarise_splits
from cvrl_pl.models.temporal_fit import fitting_frames, temporal_overhangs
from cvrl_pl.module import MODULES, SELECT_SCORE, model_encoder
from cvrl_pl.protocols import BEST_ON_TEST, evaluate_protocol, finished
from cvrl_pl.runtime.checkpoint_io import AtomicCheckpointIO
from cvrl_pl.runtime.distributed import per_device_batch
from cvrl_pl.tasks import TASKS

EXIT_PREEMPTED = 3  # stopped on SIGUSR1 after saving: rerunning the command resumes


def resolve_precision(precision: str) -> str:
    """``auto``: bf16-mixed on a GPU that supports it (the paper trains in bfloat16), else full fp32."""
    if precision != "auto":
        return precision
    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"


def resume_checkpoint(resume: str, run_dir: Path) -> str | None:
    """``auto``: the run folder's last.ckpt if there is one; ``never``; or an explicit checkpoint path."""
    if resume == "never":
        return None
    if resume == "auto":
        last = run_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    if not Path(resume).is_file():
        raise ConfigError(f"trainer.resume: checkpoint not found: {resume}")
    return resume


def build_callbacks(cfg: DictConfig, run_dir: Path, loggers: list[Logger]) -> list[pl.Callback]:
    """Checkpoints, preemption, the loss guard and the throughput log; for pretraining also the kNN / linear
    probes when a labelled val split is configured, the run report and the W&B augmentation preview."""
    t = cfg.trainer
    last = run_dir / "checkpoints" / "last.ckpt"
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=last.parent,
            save_last=True,
            save_top_k=0,
            every_n_train_steps=t.checkpoint_every_n_steps or None,
            save_on_train_epoch_end=True,
        ),
        *([BatchTraceCallback(run_dir)] if t.trace_batches else []),
        ThroughputMonitor(t.data_wait_warn),
        FiniteLossGuard(last),
        PreemptionCallback(last),  # after the step's other callbacks: it may end the run
        # The bar reads its metrics from the device when it refreshes: only as often as the logs are written.
        LogStepProgressBar(),
    ]
    if TASKS[cfg.task].protocol:
        if "best_on_test" in cfg.eval.selection:  # the epoch whose per-epoch test score is best (protocols.classify)
            best = ModelCheckpoint(
                dirpath=last.parent,
                filename=BEST_ON_TEST,
                monitor=SELECT_SCORE,
                mode="max",
                save_top_k=1,
                enable_version_counter=False,
            )
            callbacks.insert(1, best)
        return callbacks
    probes = ProbeCallback(cfg) if cfg.val.root else None
    callbacks += [*([probes] if probes else []), ReportCallback(run_dir, probes)]
    wandb = [logger for logger in loggers if isinstance(logger, WandbLogger)]
    if wandb and cfg.logger.wandb.preview_clips:
        callbacks.append(AugmentationPreview(wandb[0], cfg.logger.wandb.preview_clips))
    return callbacks


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    """CSV files always (a new logs/version_N per start, so a resumed run never overwrites earlier metrics), and
    W&B unless ``logger.wandb.mode=disabled``, continuing the same W&B run when the run resumes."""
    loggers: list[Logger] = [CSVLogger(save_dir=run_dir, name="logs")]
    w = cfg.logger.wandb
    if w.mode != "disabled":
        loggers.append(
            WandbLogger(
                name=cfg.trainer.run_name,
                save_dir=run_dir,
                project=w.project,
                entity=w.entity,
                tags=list(w.tags),
                mode=w.mode,
                id=wandb_run_id(run_dir),
                resume="allow",
                config=flat_config(cfg),
            )
        )
    return loggers


def wandb_run_id(run_dir: Path) -> str:
    """The W&B run id of this run folder: chosen by its first start (the sweep agent's WANDB_RUN_ID under a sweep),
    saved, and read back by every resume, so a resumed run continues the same W&B run."""
    path = run_dir / "wandb_id"
    if path.is_file():
        return path.read_text().strip()
    run_id = os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:12]
    if rank_zero_only.rank == 0:  # other ranks never start a W&B run
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id)
    return run_id


def flat_config(cfg: DictConfig) -> dict:
    """The resolved config as {"dotted.key": value}: the names W&B sweeps and run filters use."""
    flat: dict = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = value

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def build_trainer(cfg: DictConfig, run_dir: Path) -> pl.Trainer:
    t = cfg.trainer
    loggers = build_loggers(cfg, run_dir)
    gpu = t.accelerator == "gpu" or (t.accelerator == "auto" and torch.cuda.is_available())
    precision = resolve_precision(t.precision)
    if precision.startswith("bf16") and not gpu:
        check_cpu_bf16_clip(cfg, precision)
    plugins = [AtomicCheckpointIO()]
    if SLURMEnvironment.detect():
        # Lightning would handle SIGUSR1 itself, saving elsewhere; PreemptionCallback saves last.ckpt and requeues.
        plugins.append(SLURMEnvironment(auto_requeue=False))
    trainer = pl.Trainer(
        default_root_dir=run_dir,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        precision=precision,
        max_epochs=t.max_epochs,
        max_steps=t.max_steps,
        log_every_n_steps=t.log_every_n_steps,
        callbacks=build_callbacks(cfg, run_dir, loggers),
        logger=loggers,
        plugins=plugins,
        benchmark=gpu,  # cudnn autotuning: the clip shape is fixed for a whole run
        # SyncBN (the paper's cross-device BN) needs CUDA tensors; plain BN on CPU ranks.
        sync_batchnorm=gpu,
        # DALI pipelines shard by global rank themselves; only the in-memory dataset uses a DataLoader sampler.
        use_distributed_sampler=cfg.data.source == "generated",
        num_sanity_val_steps=0,  # the only validation during fit is eval.selection=best_on_test's whole pass
        gradient_clip_val=cfg.optim.grad_clip or None,
    )
    return trainer


def check_cpu_bf16_clip(cfg: DictConfig, precision: str) -> None:
    """bf16 on a CPU: a ConfigError if the clip that trains the encoder is shorter than a Conv3d's temporal kernel
    at that layer, where torch's CPU bf16 Conv3d returns wrong weight gradients (measured, docs/benchmarks.md)."""
    task = TASKS[cfg.task]
    if task.frozen:  # no Conv3d weight gradient
        return
    section = "eval" if task.protocol else "data"
    clip, m = cfg[section], cfg.model
    with torch.device("meta"):  # shapes only
        encoder = model_encoder(m)
    overhangs = temporal_overhangs(encoder, clip.num_frames, clip.crop_size)
    if overhangs:
        first = overhangs[0]
        raise ConfigError(
            f"{section}.num_frames={clip.num_frames} with trainer.precision={precision} on a CPU: {len(overhangs)} "
            f"Conv3d layers of model.encoder={m.encoder} get fewer frames than their temporal kernel spans (the "
            f"first, {first.layer}, {first.frames} frames for a {first.kernel}-frame kernel), and torch's CPU bf16 "
            f"Conv3d returns wrong weight gradients there (docs/benchmarks.md); set {section}.num_frames="
            f"{fitting_frames(encoder, clip.num_frames, clip.crop_size)} or more, or trainer.precision=32-true"
        )


def run(cfg: DictConfig) -> Path:
    """Train according to ``cfg``; returns the run folder (config.yaml, checkpoints/last.ckpt, logs/).

    Raises :class:`Preempted` after saving on SIGUSR1, and :class:`NonFiniteLossError` on a NaN or infinite loss.
    """
    run_dir = Path(cfg.trainer.output_dir) / cfg.trainer.run_name
    ckpt = resume_checkpoint(cfg.trainer.resume, run_dir)
    if cfg.data.generate and not Path(cfg.data.generate).exists():
        generate(cfg.data.generate, SyntheticSpec(seed=cfg.trainer.seed))
    pl.seed_everything(cfg.trainer.seed, workers=True)
    trainer = build_trainer(cfg, run_dir)
    per_device_batch(cfg.data.batch_size, trainer.world_size)  # fail now, not inside the workers
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, run_dir / "config.yaml")
    task = TASKS[cfg.task]
    if task.protocol:
        evaluate_protocol(cfg, trainer, run_dir, ckpt)
    else:
        datamodule = GeneratedDataModule(cfg) if cfg.data.source == "generated" else CVRLDataModule(cfg)
        trainer.fit(MODULES[task.module](cfg), datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
    if task.trains:
        # Also keep the final state when a run stops mid-epoch (max_steps), where no epoch-end save happens. The full
        # state (optimizer, loops, callbacks) is what a resume needs; it is tensors and plain data only, so resuming
        # loads it with weights_only=True.
        trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    return run_dir


def _set_split(cfg: DictConfig, n: int) -> None:
    cfg.data.split = cfg.val.split = n


def _set_seed(cfg: DictConfig, n: int) -> None:
    cfg.trainer.seed = n


# What a protocol is repeated over: --splits (the official splits) or eval.seeds, and how a run's config takes one.
REPEATS = {"splits": _set_split, "seeds": _set_seed}


def run_splits(cfg: DictConfig, values: list[int], *, over: str = "splits") -> Path:
    """The protocol of ``cfg`` once per official split N (``over="splits"``: data.split = val.split = N) or per seed
    N (``"seeds"``: trainer.seed = N), each in the run folder <run_name>/split<N> or seed<N>, then
    <run_name>/metrics.json and report.md: the runs' metrics, their mean and sample std. A run whose folder already
    holds its metrics for the same config is not run again."""
    if not TASKS[cfg.task].protocol:
        *others, last = (name for name, task in TASKS.items() if task.protocol)
        raise ConfigError(f"--splits and eval.seeds repeat a protocol: set task={', '.join(others)} or {last}")
    out = Path(cfg.trainer.output_dir) / cfg.trainer.run_name
    per_run, folder = {}, over[:-1]
    for n in values:
        run_cfg = copy.deepcopy(cfg)
        with read_write(run_cfg):  # a loaded config is read-only
            REPEATS[over](run_cfg, n)
            run_cfg.trainer.run_name = f"{cfg.trainer.run_name}/{folder}{n}"
        done = out / f"{folder}{n}"
        if not finished(done, run_cfg):
            done = run(run_cfg)
        if rank_zero_only.rank == 0:
            per_run[n] = json.loads((done / "metrics.json").read_text())
    if rank_zero_only.rank == 0:
        summary = {"task": cfg.task, "init": cfg.model.init, **summarise_splits(per_run, over=over)}
        (out / "metrics.json").write_text(json.dumps(summary, indent=1))
        metrics = TASKS[cfg.task].headline(summary["mean"])
        table = report_table(summary, metrics, over=over)
        title = f"# {cfg.task} on {cfg.data.layout} {over} {', '.join(map(str, values))}\n\n"
        (out / "report.md").write_text(title + table)
        print(table, end="")
    return out


def split_numbers(text: str) -> list[int]:
    """``--splits 1,2,3`` -> [1, 2, 3]."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected split numbers such as 1,2,3, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="YAML file of overrides of the schema's defaults (see conf/)")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument(
        "--splits", type=split_numbers, metavar="N,N,...", help="run the protocol on each of these official splits"
    )
    parser.add_argument("overrides", nargs="*", help="dotted.key=value overrides, applied after the file")
    args = parser.parse_args(argv)

    def start() -> None:
        cfg = load_config(args.config, args.overrides)
        if args.print_config:
            print(OmegaConf.to_yaml(cfg), end="")
        elif args.splits and cfg.eval.seeds:
            raise ConfigError("--splits and eval.seeds: repeat over one of them at a time")
        elif args.splits:
            run_splits(cfg, args.splits)
        elif cfg.eval.seeds:
            run_splits(cfg, list(cfg.eval.seeds), over="seeds")
        else:
            run(cfg)

    return exit_code(start, rerun="the same command")


def exit_code(action: Callable[[], object], *, rerun: str) -> int:
    """Run ``action``, turning the errors a user can act on into a message and the exit code: 2 for a bad config or
    dataset, 1 for a non-finite loss, EXIT_PREEMPTED after a save on SIGUSR1 (``rerun`` resumes), else 0."""
    try:
        action()
    except (ConfigError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Preempted as exc:
        print(f"{exc}. Rerun {rerun} to resume.", file=sys.stderr)
        return EXIT_PREEMPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
