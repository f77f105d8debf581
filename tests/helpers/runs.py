"""Tiny training runs through train.py: the overrides that keep them small and the metrics they log to CSV; a
command that stops while its config loads, run in this process."""

import csv
import io
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout

from tests.helpers import ROOT

# A few CPU steps of conf/generated.yaml.
TINY = [
    "data.num_frames=4",
    "data.crop_size=64",
    "data.batch_size=4",
    "data.num_workers=0",
    "data.generated.num_videos=16",
    "data.generated.size=72",
    "model.proj_hidden_dim=64",
    "trainer.log_every_n_steps=1",
    "trainer.checkpoint_every_n_steps=0",
]

# Tiny evaluation clips for the protocols: 2 clips x (eval.num_spatial) crops of 4 frames at 32 pixels.
EVAL_TINY = [
    "eval.num_frames=4",
    "eval.stride=2",
    "eval.crop_size=32",
    "eval.test_crop_size=32",
    "eval.short_side=32",
    "eval.num_temporal=2",
]


def metric_rows(run_dir):
    """The rows of every CSV log version of ``run_dir`` that logged a training loss, oldest first."""
    rows = []
    for version in sorted((run_dir / "logs").iterdir()):
        with open(version / "metrics.csv") as f:
            rows += [row for row in csv.DictReader(f) if row.get("train/loss")]
    return rows


def train_config_only(*args: str) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` for a command that ends while its config loads (a bad key or value, a missing file,
    --print-config): ``train.main`` in this process, its exit code and output as the command's, without starting
    Python, torch and DALI again (about 9 s a call). tests/test_config.py runs the command itself once."""
    from cvrl_pl.train import main

    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(ROOT)  # where the command runs: its paths are relative to the repository
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code
    finally:
        os.chdir(cwd)
    return subprocess.CompletedProcess(["train.py", *args], code, out.getvalue(), err.getvalue())
