"""The SEVERE suite in one command (python -m cvrl_pl.suites.severe) on generated data in SEVERE's data tree: a
1000-example task (its draw) and a FineGym set, killed mid-run and rerun, a finished run never rerun, both
selection rules in every metrics file, and the suite's outputs <out>/severe.json and <out>/severe.md beside the
published rows."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from cvrl_pl.models import build_encoder
from cvrl_pl.models.encoder_file import ARCH_DEFAULTS
from cvrl_pl.suites.severe import jobs, main, markdown, summarise, task_overrides
from cvrl_pl.suites.severe_tasks import COLUMNS, PUBLISHED
from tests.helpers import ROOT
from tests.helpers.official import write_gym99, write_ucf101

TINY = [
    "eval.num_frames=4",
    "eval.crop_size=32",
    "eval.test_crop_size=32",
    "eval.short_side=32",
    "eval.num_temporal=2",
    "eval.train_clips=2",
    "eval.select_clips=2",
    "eval.batch_size=4",
    "data.batch_size=4",
    "data.num_workers=1",
    "trainer.max_epochs=2",
    "optim.milestones=[1]",
    "trainer.checkpoint_every_n_steps=1",
    "trainer.log_every_n_steps=1",
    "logger.wandb.mode=disabled",
]
ARCH = {"name": "r3d18", "width": 1, "base_channels": 8, **ARCH_DEFAULTS}


@pytest.fixture(scope="module")
def severe_data(tmp_path_factory):
    """SEVERE's tree (ucf101/UCF-101, ucf101/ucfTrainTestlist, gym/videos, gym/annotations) and a tiny encoder."""
    root = tmp_path_factory.mktemp("severe")
    write_ucf101(root / "data" / "ucf101", groups=3, clips=2)
    write_gym99(root / "data" / "gym", clips=2)
    encoder = root / "encoder.pt"
    torch.save({"arch": ARCH, "state_dict": build_encoder(**ARCH).state_dict()}, encoder)
    return root


def _suite(root, *extra):
    return [
        sys.executable,
        "-m",
        "cvrl_pl.suites.severe",
        "--encoder",
        str(root / "encoder.pt"),
        "--data",
        str(root / "data"),
        "--tasks",
        "ucf101_1000,fx_s1",
        "--seeds",
        "1",
        "--out",
        str(root / "out"),
        "--conf-dir",
        str(ROOT / "conf" / "severe"),
        *TINY,
        *extra,
    ]


def _logged(run_dir, key):
    rows = []
    for path in sorted((run_dir / "logs").glob("version_*/metrics.csv")):
        rows += [r for r in csv.DictReader(path.open()) if r.get(key)]
    return rows


def test_the_suite_resumes_after_a_kill_and_reports_both_selection_rules(severe_data):
    root = severe_data
    out, first = root / "out", root / "out" / "ucf101_1000" / "seed1"
    proc = subprocess.Popen(
        _suite(root), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while not (first / "checkpoints" / "last.ckpt").is_file():  # saved after the first training step
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the first run saved no checkpoint in time"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (first / "metrics.json").exists()
    saved = torch.load(first / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]

    done = subprocess.run(_suite(root), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # The killed run resumed (a second log version, starting past step 0); the draw: SEVERE's 334 a class of
    # UCF-101's 3 classes takes all 12 training videos, written for data.label_subset.
    assert sorted(p.name for p in (first / "logs").iterdir()) == ["version_0", "version_1"]
    resumed = [int(r["step"]) for r in csv.DictReader((first / "logs" / "version_1" / "metrics.csv").open())]
    assert saved >= 1 and min(resumed) >= saved - 1  # not from step 0
    drawn = (out / "ucf101_1000" / "subset.txt").read_text().split()
    assert len(drawn) == 12 and all(p.endswith(".avi") for p in drawn)
    assert sorted((first / "label_subset.txt").read_text().split()) == sorted(drawn)

    for task in ("ucf101_1000", "fx_s1"):
        run_dir = out / task / "seed1"
        last = json.loads((run_dir / "metrics.json").read_text())
        best = json.loads((run_dir / "metrics_best_on_test.json").read_text())
        assert (last["selection"], best["selection"]) == ("last", "best_on_test")
        assert last["protocol"] == {
            "clips": 2,
            "crops": 1,
            "segments": 1,
            "frames": 4,
            "fps": 16.0,
            "crop_size": 32,
            "short_side": 32,
        }
        assert last["seed"] == 1 and last["videos"] == (6 if task == "ucf101_1000" else 2)
        # best_on_test's epoch is the one whose per-epoch score (top-1 over the test clips) was the highest
        scores = [float(r["select/score"]) for r in _logged(run_dir, "select/score")]
        assert len(scores) == 2 and best["selection_score"] == pytest.approx(max(scores))
        assert best["selected_epoch"] == 1 + scores.index(max(scores))
        # mean per-class top-1 as metrics.json states it, recomputed from predictions.npz
        pred = np.load(run_dir / "predictions.npz")
        hits = pred["scores"].argmax(1) == pred["targets"]
        per_class = [hits[pred["targets"] == c].mean() for c in np.unique(pred["targets"])]
        assert last["mean_class_top1"] == pytest.approx(100 * np.mean(per_class), abs=1e-4)
        assert last["classes_tested"] == len(per_class)
    # FX-S1: Gym99's labels 6 and 16 of the generated lists, as classes 0 and 10 of 11
    assert json.loads((out / "fx_s1" / "seed1" / "metrics.json").read_text())["classes_tested"] == 2

    summary = json.loads((out / "severe.json").read_text())
    assert summary["encoder"]["arch"] == ARCH and summary["published_encoder"] == "R(2+1)D-18"
    assert summary["missing"] == []
    row = summary["tasks"]["fx_s1"]["rules"]["best_on_test"]
    assert row["seeds"] == [1] and row["top1"]["values"] == [best_top1(out, "fx_s1")]
    report = (out / "severe.md").read_text()
    assert "| ours, r3d18, last (last epoch) |" in report and "SEVERE's rule" in report
    assert "| GDT (R(2+1)D-18, published) | 91.1 | 57.8 | 90.4 | 77.8 | 44.1 | 65.7 | 81.6 | 0.137 | 8.5 |" in report

    again = subprocess.run(_suite(root), cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "ucf101_1000 seed 1: finished" in again.stdout and "fx_s1 seed 1: finished" in again.stdout
    assert sorted(p.name for p in (first / "logs").iterdir()) == ["version_0", "version_1"]  # nothing rerun


def best_top1(out, task):
    return json.loads((out / task / "seed1" / "metrics_best_on_test.json").read_text())["top1"]


def test_the_summary_is_the_mean_and_sample_std_of_the_seeds_metrics(tmp_path):
    arch = {"name": "r2plus1d18", "width": 1, "base_channels": 64, **ARCH_DEFAULTS}
    torch.save({"arch": arch, "state_dict": {}}, tmp_path / "enc.pt")
    values = {1: (80.0, 70.0), 2: (82.0, 71.0), 3: (84.0, 75.0)}  # seed: (top1, mean_class_top1)
    for seed, (top1, per_class) in values.items():
        run_dir = tmp_path / "gym99" / f"seed{seed}"
        run_dir.mkdir(parents=True)
        for name in ("metrics.json", "metrics_best_on_test.json"):
            bonus = 1.0 if "best" in name else 0.0
            metrics = {"top1": top1 + bonus, "mean_class_top1": per_class}
            (run_dir / name).write_text(json.dumps(metrics))
    summary = summarise(tmp_path, ["gym99", "ssv2"], [1, 2, 3], encoder=str(tmp_path / "enc.pt"))
    last = summary["tasks"]["gym99"]["rules"]["last"]
    assert last["top1"] == {"values": [80.0, 82.0, 84.0], "mean": 82.0, "std": 2.0}
    assert last["mean_class_top1"]["mean"] == pytest.approx(72.0) and last["mean_class_top1"]["std"] == pytest.approx(
        np.std([70, 71, 75], ddof=1)
    )
    assert summary["tasks"]["gym99"]["rules"]["best_on_test"]["top1"]["mean"] == 83.0
    assert summary["missing"] == [["ssv2", 1], ["ssv2", 2], ["ssv2", 3]]
    text = markdown(summary)
    assert "| ours, r2plus1d18, last (last epoch) | — | — | 82.0 ± 2.0 |" in text
    assert "Not finished yet: ssv2 seed 1, ssv2 seed 2, ssv2 seed 3." in text
    assert len(PUBLISHED["None"]) == len(COLUMNS) == 9


def test_jobs_and_per_task_overrides():
    assert jobs(["gym99", "fx_s1"], [1, 2]) == [("gym99", 1), ("gym99", 2), ("fx_s1", 1), ("fx_s1", 2)]
    given = ["trainer.devices=8", "ssv2:data.batch_size=64", "gym99:eval.fps=25"]
    assert task_overrides(given, "ssv2") == ["trainer.devices=8", "data.batch_size=64"]
    assert task_overrides(given, "ucf101") == ["trainer.devices=8"]
    with pytest.raises(Exception, match="no SEVERE task 'kinetics'"):
        task_overrides(["kinetics:data.batch_size=1"], "ucf101")


def test_list_prints_the_job_array_and_a_bad_job_is_an_error(capsys, tmp_path):
    common = [
        "--encoder",
        str(tmp_path / "none.pt"),
        "--data",
        str(tmp_path),
        "--tasks",
        "gym99,ub_s1",
        "--seeds",
        "1,2",
    ]
    assert main([*common, "--list"]) == 0
    assert capsys.readouterr().out.split("\n")[:4] == ["0 gym99 1", "1 gym99 2", "2 ub_s1 1", "3 ub_s1 2"]
    assert main([*common, "--job", "4"]) == 2
    assert "--job 4: the suite has jobs 0 to 3 (--list)" in capsys.readouterr().err
    assert main(common) == 2  # the encoder file is read before anything runs
    assert "--encoder: encoder weights not found" in capsys.readouterr().err


def test_subset_prints_and_saves_the_draw_and_warns_of_missing_clips(severe_data, capsys, tmp_path):
    out = tmp_path / "gym99_1000.txt"
    args = ["subset", "--data", str(severe_data / "data"), "--task", "gym99_1000", "--out", str(out)]
    assert main([*args, "--conf-dir", str(ROOT / "conf" / "severe")]) == 0
    printed = capsys.readouterr()
    # the generated Gym99 list: 2 training clips of each of 6 labels on disk, and one more of label 6 missing
    assert "list: 13 clips, 12 found, 1 missing" in printed.out and "missing clips change which clips" in printed.err
    drawn = out.read_text().split()
    assert len(drawn) == 12 and all((severe_data / "data" / "gym" / "videos" / p).is_file() for p in drawn)
