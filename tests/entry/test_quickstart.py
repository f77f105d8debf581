"""The demo: generated dataset, pretraining with periodic probes, random-init baseline, metrics.json and report.

The demo dataset's videos themselves are tested in tests/data/test_synthetic.py."""

import json

import pytest

from cvrl_pl.data.synthetic import SyntheticSpec

# The demo (conf/quickstart.yaml) cut from 120 epochs to 20, probed at 0, 10 and 20 epochs: about 1.5 to 4 minutes
# on 2 cores.
SHORT = ["trainer.max_epochs=20", "optim.warmup_epochs=2", "probe.every_n_epochs=10"]
# The gains in top-1 points that pretraining must reach over random init. The full demo gains +31 to +38 (linear) and
# +41 to +51 (kNN) (docs/benchmarks.md). These 20 epochs gained, with trainer.seed 0 to 4 (each seed also draws its
# own dataset), linear +10.4, +25.0, +12.5, +27.1, +10.5 and kNN +16.6, +17.7, +15.6, +29.1, +22.9 (2026-12-05,
# 2-core machine); with training that learns nothing (optim.base_lr=1e-12) linear -9.4 and kNN +6.2 (the BatchNorm
# statistics alone adapt to the data). The margins sit between: about 5 points below the least gain seen, above
# what untrained weights get.
MIN_LINEAR_GAIN, MIN_KNN_GAIN = 5.0, 10.0


def test_quickstart_run_writes_metrics_and_report(train, tmp_path):
    demo = tmp_path / "demo"
    proc = train(
        "--config",
        "conf/quickstart.yaml",
        *SHORT,
        f"data.generate={demo}",
        f"data.root={demo}/train",
        f"val.root={demo}/val",
        f"trainer.output_dir={tmp_path}",
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((demo / "train").rglob("*.webm"))) == 8 * SyntheticSpec.train_per_class
    assert len(list((demo / "val").rglob("*.webm"))) == 8 * SyntheticSpec.val_per_class

    run = tmp_path / "quickstart"
    metrics = json.loads((run / "metrics.json").read_text())
    random_init = metrics["random_init"]
    assert metrics["linear_top1"] - random_init["linear_top1"] >= MIN_LINEAR_GAIN, metrics
    assert metrics["knn_top1"] - random_init["knn_top1"] >= MIN_KNN_GAIN, metrics
    assert metrics["knn_top1"] <= metrics["knn_top5"] and metrics["linear_top1"] <= metrics["linear_top5"]
    for probe in ("knn", "linear"):  # the demo's val split holds as many videos of every class: the two agree
        assert metrics[f"{probe}_mean_class_top1"] == pytest.approx(metrics[f"{probe}_top1"]), metrics
    assert [h["epoch"] for h in metrics["history"]] == [0.0, 10.0, 20.0]  # random init, then every 10 epochs
    assert random_init["linear_top1"] == metrics["history"][0]["linear_top1"]
    assert metrics["epochs"] == 20 and len(metrics["train_loss"]) == 20
    report = (run / "report.md").read_text()
    assert "| random init |" in report and "Linear-probe top-1 gain over random init" in report
    assert (run / "report.png").stat().st_size > 10_000
