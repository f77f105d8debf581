"""Charades through train.py: fine-tuning (one process and two DDP ranks) and the attentive probe with a grid of
heads chosen on held-out training videos, on generated files in the distributed format, mAP in metrics.json equal to
one recomputed here from predictions.npz, and the protocols that need one label per video refusing the multi-label
split by name."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.helpers.charades import write_charades
from tests.helpers.runs import EVAL_TINY

TINY = [
    "model.encoder=r3d18",
    "model.base_channels=8",
    "data.batch_size=4",
    "data.num_workers=1",
    "eval.batch_size=4",
    *EVAL_TINY,
    "eval.num_spatial=2",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "logger.wandb.mode=disabled",
]


@pytest.fixture(scope="module")
def charades(tmp_path_factory):
    videos, annotations = write_charades(tmp_path_factory.mktemp("charades"))
    return [
        f"data.root={videos}",
        f"data.annotations={annotations}",
        f"val.root={videos}",
        f"val.annotations={annotations}",
    ]


def recomputed_map(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP in percent, written out here: for each class with a positive video, rank the videos by score; at the
    k-th positive met at rank r, precision k / r; the class's AP is their mean; mAP the mean over those classes."""
    aps = []
    for c in range(targets.shape[1]):
        if not targets[:, c].any():
            continue
        ranked = sorted(range(len(scores)), key=lambda v: -scores[v, c])
        found, precisions = 0, []
        for rank, v in enumerate(ranked, start=1):
            if targets[v, c]:
                found += 1
                precisions.append(found / rank)
        aps.append(sum(precisions) / len(precisions))
    return 100.0 * sum(aps) / len(aps)


@pytest.mark.parametrize(
    ("args", "task"),
    [
        (["--config", "conf/charades_finetune.yaml"], "finetune"),
        (["--config", "conf/charades_finetune.yaml", "trainer.accelerator=cpu", "trainer.devices=2"], "finetune"),
        (
            [
                "--config",
                "conf/attentive_probe.yaml",
                "data.layout=charades",
                "data.subset=train",
                "val.layout=charades",
                "val.subset=test",
                "eval.clip_targets=video",
                "eval.attentive.width=16",
                "eval.attentive.heads=4",
                "eval.heads.lr=[1e-3,1e-2]",  # two heads, one chosen by mAP on half the training videos held out
                "eval.heads.holdout=0.5",
            ],
            "attentive_probe",
        ),  # fmt: skip
    ],
)
def test_a_protocol_on_charades_writes_its_map_and_the_predictions_it_came_from(train, charades, tmp_path, args, task):
    proc = train(*args, *TINY, *charades, f"trainer.output_dir={tmp_path}", "trainer.run_name=c")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert metrics["task"] == task and "top1" not in metrics and "top5" not in metrics
    assert (metrics["videos"], metrics["views_per_video"]) == (3, 2.0)
    saved = np.load(tmp_path / "c" / "predictions.npz")
    assert saved["ids"].tolist() == ["7UPGT.mp4", "RXGAZ.mp4", "YSKX3.mp4"]
    assert saved["classes"].tolist() == ["c000", "c001", "c002", "c003"]
    # each test video's whole actions, as the CSV lists them: 7UPGT none, RXGAZ c003, YSKX3 c000 and c002 (c001: none)
    assert saved["targets"].dtype == np.uint8 and saved["targets"].tolist() == [
        [0, 0, 0, 0],
        [0, 0, 0, 1],
        [1, 0, 1, 0],
    ]
    scores = saved["scores"]
    assert scores.shape == (3, 4) and ((scores > 0) & (scores < 1)).all()  # sigmoids, combined over the views
    assert metrics["mAP"] == pytest.approx(recomputed_map(scores, saved["targets"]), abs=1e-9)
    assert f"{task}: mAP {metrics['mAP']:.2f} over 3 test videos" in proc.stdout
    assert ("heads" in metrics) == (task == "attentive_probe")
    if task == "attentive_probe":  # no class to stratify by: half of the 4 training videos, drawn by the seed
        assert metrics["holdout"]["chosen_by"] == "mAP" and metrics["holdout"]["videos"] == 2
        held_map = [head["holdout"]["mAP"] for head in metrics["heads"]]
        assert len(held_map) == 2 and metrics["chosen_head"] == held_map.index(max(held_map))
        assert sorted((tmp_path / "c" / "holdout.txt").read_text().split()) == ["46GP8.mp4", "N11GT.mp4"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["task=retrieval"], "data.root=.* is multi-label .* retrieval and the kNN and linear probes need one label"),
        (
            ["task=finetune", "data.label_fraction=0.5"],
            "data.label_fraction=0.5: the class-balanced draw needs one "
            "label per video, and data.layout=charades is multi-label",
        ),  # fmt: skip
    ],
)
def test_what_needs_one_label_per_video_refuses_charades_by_name(train, charades, tmp_path, extra, message):
    layout = ["data.layout=charades", "data.subset=train", "val.layout=charades", "val.subset=test"]
    proc = train(*TINY, *layout, *charades, *extra, f"trainer.output_dir={tmp_path}")
    assert proc.returncode == 2
    assert re.search(message, proc.stderr), proc.stderr[-2000:]
