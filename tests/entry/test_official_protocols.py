"""The downstream protocols on the datasets' own files through train.py: the three-split command on UCF-101's
lists (AVI decoded with PyAV), retrieval recall (itself found at R@1 when the test list is the train list, and
the same on 2 DDP ranks), the old eval.val_* key names, and a bad split number named by its key."""

from __future__ import annotations

import json
import statistics

import pytest

from tests.helpers.official import write_hmdb51, write_ucf101
from tests.helpers.runs import EVAL_TINY

TINY = [
    "model.encoder=r3d18",
    "model.base_channels=8",
    "data.batch_size=6",
    "data.num_workers=1",
    "eval.batch_size=6",
    *EVAL_TINY,
    "eval.num_spatial=2",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "logger.wandb.mode=disabled",
]


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return write_ucf101(tmp_path_factory.mktemp("ucf"))


def _splits(root, lists, layout):
    return [
        f"data.root={root}",
        f"data.layout={layout}",
        f"data.annotations={lists}",
        "data.subset=train",
        f"val.root={root}",
        f"val.layout={layout}",
        f"val.annotations={lists}",
        "val.subset=test",
    ]


def test_three_split_linear_eval_writes_each_split_and_their_mean_and_std(train, ucf, tmp_path):
    root, lists = ucf
    args = [
        "--config",
        "conf/linear_eval.yaml",
        *TINY,
        *_splits(root, lists, "ucf101"),
        f"trainer.output_dir={tmp_path}",
    ]
    proc = train(*args, "trainer.run_name=ucf", "--splits", "1,2,3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "ucf" / "metrics.json").read_text())
    assert summary["task"] == "linear_eval" and list(summary["splits"]) == ["1", "2", "3"]
    for n in (1, 2, 3):
        per_split = json.loads((tmp_path / "ucf" / f"split{n}" / "metrics.json").read_text())
        assert summary["splits"][str(n)] == per_split
        assert per_split["videos"] == 6 and per_split["views_per_video"] == 2.0  # one group: 3 classes x 2 clips
    for key in ("top1", "top5"):
        values = [summary["splits"][n][key] for n in ("1", "2", "3")]
        assert summary["mean"][key] == pytest.approx(statistics.mean(values))
        assert summary["std"][key] == pytest.approx(statistics.stdev(values))
    report = (tmp_path / "ucf" / "report.md").read_text().splitlines()
    assert report[0] == "# linear_eval on ucf101 splits 1, 2, 3" and report[2] == "| split | top1 | top5 |"
    assert report[-2] == f"| mean | {summary['mean']['top1']:.2f} | {summary['mean']['top5']:.2f} |"

    again = train(*args, "trainer.run_name=ucf", "--splits", "1,2,3")  # every split done: nothing runs again
    assert again.returncode == 0 and "linear_eval: top-1" not in again.stdout
    assert json.loads((tmp_path / "ucf" / "metrics.json").read_text()) == summary


@pytest.mark.parametrize("devices", [1, 2])
def test_retrieval_finds_each_query_itself_when_test_is_train(train, ucf, tmp_path, devices):
    root, lists = ucf
    same = tmp_path / "lists"
    same.mkdir()
    (same / "classInd.txt").write_bytes((lists / "classInd.txt").read_bytes())
    (same / "trainlist01.txt").write_bytes((lists / "trainlist01.txt").read_bytes())
    (same / "testlist01.txt").write_bytes((lists / "trainlist01.txt").read_bytes())
    proc = train(
        *TINY,
        "task=retrieval",
        *_splits(root, same, "ucf101"),
        "trainer.accelerator=cpu",
        f"trainer.devices={devices}",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=r",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["task"] == "retrieval" and (metrics["queries"], metrics["gallery"]) == (12, 12)
    assert metrics["views_per_video"] == 2.0  # eval.num_temporal clips, one centre crop each
    assert [metrics[f"R@{k}"] for k in (1, 5, 10, 20, 50)] == [100.0] * 5
    assert "retrieval: R@1 100.00" in proc.stdout


def test_retrieval_on_hmdb51_with_the_old_eval_key_names(train, tmp_path):
    root, lists = write_hmdb51(tmp_path / "hmdb")
    old_names = [
        f"eval.val_root={root}",
        "eval.val_layout=hmdb51",
        f"eval.val_annotations={lists}",
        "eval.val_split=2",
        "eval.val_subset=test",
    ]
    common = [
        *TINY,
        "task=retrieval",
        f"data.root={root}",
        "data.layout=hmdb51",
        f"data.annotations={lists}",
        "data.split=2",
        "data.subset=train",
        f"trainer.output_dir={tmp_path}",
    ]
    proc = train(*common, *old_names, "trainer.run_name=old")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "config key 'eval.val_subset' is deprecated; use 'val.subset'" in proc.stderr
    metrics = json.loads((tmp_path / "old" / "metrics.json").read_text())
    assert (metrics["queries"], metrics["gallery"]) == (6, 9)  # split 2: two test and three train videos per class
    assert 0.0 <= metrics["R@1"] <= metrics["R@5"] <= metrics["R@10"] == 100.0  # 9 videos: the whole gallery

    bad = train(*common, *old_names[:3], "val.subset=test", "val.split=4", "trainer.run_name=bad")
    assert bad.returncode == 2 and "error: val.split=4: layout 'hmdb51' has split(s) 1, 2, 3" in bad.stderr


def test_pretraining_on_the_official_train_list_probes_on_the_test_list(train, ucf, tmp_path):
    root, lists = ucf
    proc = train(
        "--config",
        "conf/generated.yaml",
        "data.source=video",
        *TINY,
        *_splits(root, lists, "ucf101"),
        "data.num_frames=4",
        "data.crop_size=32",
        "data.batch_size=4",
        "model.proj_hidden_dim=32",
        "trainer.max_epochs=2",
        "probe.every_n_epochs=0",
        "probe.epochs=5",
        "probe.views=[1,1]",
        "probe.batch_size=6",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=pre",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "pre" / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and len(metrics["train_loss"]) == 2  # 12 training-list videos: 3 steps an epoch
    assert [h["step"] for h in metrics["history"]] == [0, 6]  # before training and at the end
    assert all(0.0 <= h["knn_top1"] <= h["knn_top5"] == 100.0 for h in metrics["history"])  # 3 classes: top-5 is all
