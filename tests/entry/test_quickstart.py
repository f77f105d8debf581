"""The demo: generated dataset, pretraining with periodic probes, random-init baseline, metrics.json and report.

The demo dataset's videos themselves are tested in tests/data/test_synthetic.py."""

import json

from cvrl_pl.data.synthetic import SyntheticSpec

TINY = [
    "data.num_frames=4",
    "data.crop_size=32",
    "data.batch_size=16",
    "model.base_channels=8",
    "model.proj_hidden_dim=32",
    "trainer.max_epochs=2",
    "probe.every_n_epochs=1",
    "probe.epochs=5",
    "probe.views=[1,1]",
    "probe.batch_size=16",
]


def test_quickstart_run_writes_metrics_and_report(train, tmp_path):
    demo = tmp_path / "demo"
    proc = train(
        "--config",
        "conf/quickstart.yaml",
        *TINY,
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
    for key in ("knn_top1", "knn_top5", "linear_top1", "linear_top5"):
        assert 0.0 <= metrics[key] <= 100.0
        assert 0.0 <= metrics["random_init"][key] <= 100.0
    assert metrics["knn_top1"] <= metrics["knn_top5"] and metrics["linear_top1"] <= metrics["linear_top5"]
    assert [h["epoch"] for h in metrics["history"]] == [0.0, 1.0, 2.0]  # random init, then after each epoch
    assert metrics["random_init"]["linear_top1"] == metrics["history"][0]["linear_top1"]
    assert metrics["epochs"] == 2 and len(metrics["train_loss"]) == 2
    report = (run / "report.md").read_text()
    assert "| random init |" in report and "Linear-probe top-1 gain over random init" in report
    assert (run / "report.png").stat().st_size > 10_000
