"""The SEVERE benchmark in one command: every task and seed fine-tuned from one encoder, then our row beside SEVERE's
published rows (docs/recipe.md, "SEVERE")::

    python -m cvrl_pl.suites.severe --encoder ENC.pt --data DIR [--tasks ucf101,gym99] [--seeds 1,2,3] [key=value ...]

One run folder per task and seed (``<out>/<task>/seed<N>``); a finished one is never run again and a killed one
resumes, so rerunning the command continues the suite. ``--job K`` runs the K-th (task, seed) only (a Slurm job
array: scripts/slurm/severe.sbatch), ``--list`` prints the jobs, ``--summary`` writes the summary (SUMMARY_JSON
and SUMMARY_TABLE, in ``--out``) from the runs finished so far. ``subset`` prints and saves a 1000-example draw
without decoding; ``ucfrep-counts`` prints UCFRep's annotated counts without touching a video.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from cvrl_pl.config import load_config
from cvrl_pl.data.few_shot import FewShotDraw, draw_few_shot
from cvrl_pl.data.ucfrep import read_annotations
from cvrl_pl.errors import ConfigError
from cvrl_pl.models.encoder_file import ARCH_KEYS, read_encoder, setting
from cvrl_pl.protocols import SELECTION_NAMES, finished, rule_file
from cvrl_pl.suites.severe_tasks import COLUMNS, PUBLISHED, PUBLISHED_ENCODER, TASKS
from cvrl_pl.train import exit_code, run, split_numbers

DATA_ENV = "SEVERE_DATA"  # the configs' data tree: conf/severe/*.yaml read ${oc.env:SEVERE_DATA,data/severe}
SUBSET_FILE = "subset.txt"  # a 1000-example task's draw, in <out>/<task>/
# The run outputs this command writes into --out (files of a run, not documents of this repository): the numbers as
# JSON, and the Markdown table of our rows beside the published ones.
SUMMARY_JSON, SUMMARY_TABLE = "severe.json", "severe.md"
SUMMARY_RULES = ("last", "best_on_test")


def jobs(tasks: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, int]]:
    """The suite's (task, seed) runs in job-array order: task by task, seed by seed."""
    return [(task, seed) for task in tasks for seed in seeds]


def encoder_overrides(path: str) -> list[str]:
    """The model.* overrides that rebuild the encoder in ``path`` (an exported encoder, a pretraining checkpoint or
    a torchvision-layout state dict) and start from its weights."""
    try:
        _, arch, _ = read_encoder(path)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"--encoder: {exc}") from exc
    return [setting(key, arch[key]) for key in ARCH_KEYS] + [f"model.init={Path(path).resolve()}"]


def task_overrides(overrides: Sequence[str], task: str) -> list[str]:
    """The command line's ``key=value`` overrides that apply to ``task``: those for every task, and those written
    ``task:key=value`` for it."""
    picked = []
    for item in overrides:
        name, colon, rest = item.partition(":")
        if colon and "=" not in name:
            if name not in TASKS:
                raise ConfigError(f"override '{item}': no SEVERE task '{name}' (tasks: {', '.join(TASKS)})")
            if name == task:
                picked.append(rest)
        else:
            picked.append(item)
    return picked


def task_config(
    task: str, seed: int, *, conf_dir: Path, out: Path, encoder: list[str], overrides: Sequence[str]
) -> DictConfig:
    """The config of one run: conf/severe/<task>.yaml, the encoder, the seed, the run folder <out>/<task>/seed<N>,
    the draw of a 1000-example task, then the command line's overrides."""
    path = conf_dir / f"{task}.yaml"
    suite = [
        *encoder,
        f"trainer.seed={seed}",
        f"trainer.output_dir={out / task}",
        f"trainer.run_name=seed{seed}",
    ]
    if TASKS[task].examples:
        suite.append(f"data.label_subset={out / task / SUBSET_FILE}")
    return load_config(path, [*suite, *task_overrides(overrides, task)])


def draw_subset(cfg: DictConfig, examples: int, target: Path) -> FewShotDraw:
    """SEVERE's draw of ``examples`` clips from the training list of ``cfg.data``, written to ``target`` (atomically:
    every rank of a run may draw it) and printed with the warning that missing clips change it."""
    d = cfg.data
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    lists = {"layout": d.layout, "subset": d.subset, "split": d.split}
    draw = draw_few_shot(d.root, d.annotations, partial, **lists, examples=examples)
    os.replace(partial, target)
    draw.report(target)
    return draw


def run_job(task: str, seed: int, *, conf_dir: Path, out: Path, encoder: list[str], overrides: Sequence[str]) -> Path:
    """Run (or resume) one task and seed unless its folder holds the finished run of the same config."""
    cfg = task_config(task, seed, conf_dir=conf_dir, out=out, encoder=encoder, overrides=overrides)
    run_dir = Path(cfg.trainer.output_dir) / cfg.trainer.run_name
    if finished(run_dir, cfg):
        print(f"{task} seed {seed}: finished in {run_dir}")
        return run_dir
    subset = out / task / SUBSET_FILE
    if TASKS[task].examples and not subset.is_file():
        draw_subset(cfg, TASKS[task].examples, subset)
    print(f"{task} seed {seed}: running in {run_dir}")
    return run(cfg)


def _stats(values: list[float]) -> dict:
    """Per-seed values, their mean and sample standard deviation (null for one seed)."""
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
    }


def summarise(out: Path, tasks: Sequence[str], seeds: Sequence[int], *, encoder: str) -> dict:
    """The JSON summary's content from the metrics of every finished run under ``out``: per task and selection rule,
    the task's metric and mean per-class top-1 over the seeds found, and which runs are missing."""
    _, arch, _ = read_encoder(encoder)
    summary: dict = {
        "encoder": {"path": str(encoder), "arch": arch},
        "published_encoder": PUBLISHED_ENCODER,
        "seeds": list(seeds),
        "tasks": {},
        "missing": [],
        "published": {row: dict(zip(COLUMNS, values, strict=True)) for row, values in PUBLISHED.items()},
    }
    for task in tasks:
        spec, rules = TASKS[task], {}
        for rule in SUMMARY_RULES:
            found = {}
            for seed in seeds:
                # conf/severe lists last first: its results take the plain name (protocols.rule_file)
                path = out / task / f"seed{seed}" / rule_file("metrics.json", rule, first="last")
                if path.is_file():
                    found[seed] = json.loads(path.read_text())
            if not found:
                continue
            per_metric = {spec.metric: _stats([m[spec.metric] for m in found.values()])}
            if all("mean_class_top1" in m for m in found.values()):
                per_metric["mean_class_top1"] = _stats([m["mean_class_top1"] for m in found.values()])
            rules[rule] = {"seeds": list(found), **per_metric}
        summary["tasks"][task] = {"column": spec.column, "metric": spec.metric, "rules": rules}
        done = {s for r in rules.values() for s in r["seeds"]}
        summary["missing"] += [[task, seed] for seed in seeds if seed not in done]
    return summary


def _cell(entry: dict | None, metric: str) -> str:
    if not entry or metric not in entry:
        return "—"
    m = entry[metric]
    return f"{m['mean']:.1f}" if m["std"] is None else f"{m['mean']:.1f} ± {m['std']:.1f}"


def markdown(summary: dict) -> str:
    """The summary table: our rows (one per selection rule) beside SEVERE's published rows, then mean per-class
    top-1."""
    arch = summary["encoder"]["arch"]
    by_column = {t["column"]: t for t in summary["tasks"].values()}
    lines = [
        "# SEVERE benchmark",
        "",
        f"Ours: `{arch['name']}` (width {arch['width']}, base channels {arch['base_channels']}) from "
        f"`{summary['encoder']['path']}`, seeds {', '.join(map(str, summary['seeds']))}: mean ± sample std over the "
        f"seeds. SEVERE's published rows (its Table 4) are {summary['published_encoder']} encoders pretrained on "
        "Kinetics-400, one run each, the epoch chosen on the test split: compare them with our `best_on_test` row, "
        "which uses that rule, and read our `last` row as the clean protocol (the last epoch's weights). A different "
        "encoder architecture is a different comparison: the tables say which is which.",
        "",
        "Accuracy (%, Video@1), Charades mAP (%), UCF-RC MAE (lower is better; not run by this suite yet).",
        "",
        "| encoder | " + " | ".join(COLUMNS) + " |",
        "| --- | " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for row, values in summary["published"].items():
        shown = " | ".join(f"{values[c]:.3f}" if c == "UCF-RC" else f"{values[c]:.1f}" for c in COLUMNS)
        lines.append(f"| {row} ({summary['published_encoder']}, published) | {shown} |")
    for rule in SUMMARY_RULES:
        cells = []
        for column in COLUMNS:
            task = by_column.get(column)
            cells.append(_cell(task["rules"].get(rule), task["metric"]) if task else "—")
        lines.append(f"| ours, {arch['name']}, {rule} ({SELECTION_NAMES[rule]}) | {' | '.join(cells)} |")
    lines += ["", "Mean per-class top-1 (%), ours:", "", "| rule | " + " | ".join(COLUMNS) + " |"]
    lines.append("| --- | " + " | ".join("---" for _ in COLUMNS) + " |")
    for rule in SUMMARY_RULES:
        cells = []
        for column in COLUMNS:
            task = by_column.get(column)
            cells.append(_cell(task["rules"].get(rule), "mean_class_top1") if task else "—")
        lines.append(f"| {rule} | {' | '.join(cells)} |")
    if summary["missing"]:
        shown = ", ".join(f"{task} seed {seed}" for task, seed in summary["missing"])
        lines += ["", f"Not finished yet: {shown}."]
    return "\n".join(lines) + "\n"


def write_summary(out: Path, tasks: Sequence[str], seeds: Sequence[int], *, encoder: str) -> dict:
    """Write the JSON summary and the table into ``out``; returns the summary."""
    summary = summarise(out, tasks, seeds, encoder=encoder)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_JSON).write_text(json.dumps(summary, indent=1))
    (out / SUMMARY_TABLE).write_text(markdown(summary))
    return summary


def task_names(text: str) -> list[str]:
    """``--tasks ucf101,gym99`` -> the names, each a SEVERE task."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown task(s) {', '.join(unknown) or text!r}; tasks: {', '.join(TASKS)}")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cvrl_pl.suites.severe", description=__doc__.splitlines()[0])
    p.add_argument("--encoder", required=True, help="encoder weights: an exported encoder, a .ckpt, a state dict")
    p.add_argument("--data", required=True, help="the data tree the configs read (SEVERE's layout; docs/recipe.md)")
    p.add_argument("--tasks", type=task_names, default=list(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    p.add_argument("--seeds", type=split_numbers, default=[1, 2, 3], metavar="N,N,...", help="default 1,2,3")
    p.add_argument("--out", type=Path, default=Path("runs/severe"), help="the suite's folder (default runs/severe)")
    p.add_argument("--conf-dir", type=Path, default=Path("conf/severe"), help="the task configs (conf/severe)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--job", type=int, metavar="K", help="run only the K-th (task, seed) of --list (job arrays)")
    mode.add_argument("--list", action="store_true", help="print the jobs, one per line: K task seed")
    mode.add_argument("--summary", action="store_true", help="only write the summary from the finished runs")
    p.add_argument("overrides", nargs="*", help="key=value for every task, or task:key=value for one")
    return p


def subset_main(argv: list[str]) -> int:
    """``subset --data DIR --task T [--out FILE]``: print and save SEVERE's draw of a 1000-example task from its
    list and the files on disk, decoding nothing."""
    few = [name for name, task in TASKS.items() if task.examples]
    p = argparse.ArgumentParser(prog="python -m cvrl_pl.suites.severe subset", description=subset_main.__doc__)
    p.add_argument("--data", required=True, help="the data tree the configs read (SEVERE's layout)")
    p.add_argument("--task", required=True, choices=few, help="a 1000-example task")
    p.add_argument("--out", type=Path, help="the list to write (default: runs/severe/<task>/subset.txt)")
    p.add_argument("--conf-dir", type=Path, default=Path("conf/severe"), help="the task configs (conf/severe)")
    args = p.parse_args(argv)
    os.environ[DATA_ENV] = str(Path(args.data).resolve())

    def draw() -> None:
        cfg = load_config(args.conf_dir / f"{args.task}.yaml")
        draw_subset(cfg, TASKS[args.task].examples, args.out or Path("runs/severe") / args.task / SUBSET_FILE)

    return exit_code(draw, rerun="the same command")


def ucfrep_counts_main(argv: list[str]) -> int:
    """``ucfrep-counts --annotations DIR|ZIP``: one line per annotated UCFRep video, ``name split count``, read from
    the annotations alone."""
    p = argparse.ArgumentParser(
        prog="python -m cvrl_pl.suites.severe ucfrep-counts", description=ucfrep_counts_main.__doc__
    )
    p.add_argument("--annotations", required=True, type=Path, help="the annotation folder or ucf526_annotations.zip")
    args = p.parse_args(argv)

    def counts() -> None:
        print("\n".join(f"{v.name} {v.split} {v.count}" for v in read_annotations(args.annotations)))

    return exit_code(counts, rerun="the same command")


# The subcommands beside the suite itself: their first argument names them.
SUBCOMMANDS = {"subset": subset_main, "ucfrep-counts": ucfrep_counts_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = parser().parse_args(argv)
    todo = jobs(args.tasks, args.seeds)
    if args.list:
        print("\n".join(f"{k} {task} {seed}" for k, (task, seed) in enumerate(todo)))
        return 0
    os.environ[DATA_ENV] = str(Path(args.data).resolve())

    def suite() -> None:
        chosen = todo
        if args.job is not None:
            if not 0 <= args.job < len(todo):
                raise ConfigError(f"--job {args.job}: the suite has jobs 0 to {len(todo) - 1} (--list)")
            chosen = [todo[args.job]]
        encoder = encoder_overrides(args.encoder)
        if not args.summary:
            for task, seed in chosen:
                run_job(task, seed, conf_dir=args.conf_dir, out=args.out, encoder=encoder, overrides=args.overrides)
        if args.job is None and rank_zero_only.rank == 0:
            summary = write_summary(args.out, args.tasks, args.seeds, encoder=args.encoder)
            print(markdown(summary), end="")

    return exit_code(suite, rerun="the same command")


if __name__ == "__main__":
    sys.exit(main())
