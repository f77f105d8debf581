"""The demo: generated dataset, pretraining with periodic probes, random-init baseline, metrics.json and report."""

import json

import numpy as np

from cvrl_pl.data.synthetic import SyntheticSpec, class_names, render_video

TINY = [
    "data.num_frames=4",
    "data.crop_size=32",
    "data.batch_size=16",
    "model.base_channels=8",
    "model.proj_hidden_dim=32",
    "trainer.max_epochs=2",
    "eval.every_n_epochs=1",
    "eval.probe_epochs=5",
    "eval.probe_views=[1,1]",
    "eval.batch_size=16",
]


def test_synthetic_videos_are_deterministic_and_classes_share_shapes():
    spec = SyntheticSpec(num_frames=12, size=32)
    a, b = render_video(3, 7, spec), render_video(3, 7, spec)
    assert a.shape == (12, 32, 32, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, render_video(3, 8, spec))
    assert not np.array_equal(a[0], a[-1])  # the object moves
    names = class_names()
    assert len(names) == 8 and names[0].split("_")[0] == names[1].split("_")[0]  # one shape, two motions


def test_synthetic_slide_moves_across_and_spin_turns_in_place():
    spec = SyntheticSpec(num_frames=16)
    names = class_names()

    def centroids(label):
        video = render_video(label, 0, spec).astype(float).mean(-1)
        mask = video > video.max() * 0.8  # the off-white object
        yy, xx = np.mgrid[0 : spec.size, 0 : spec.size]
        return np.array([[xx[m].mean(), yy[m].mean()] for m in mask])

    slide, spin = names.index("square_slide"), names.index("square_spin")
    assert np.linalg.norm(np.diff(centroids(slide), axis=0), axis=1).mean() > 1.0
    assert np.linalg.norm(np.diff(centroids(spin), axis=0), axis=1).mean() < 0.5
    turned = render_video(spin, 0, spec)
    assert not np.array_equal(turned[0], turned[1])  # it turns even where it barely drifts


def test_quickstart_run_writes_metrics_and_report(train, tmp_path):
    demo = tmp_path / "demo"
    proc = train(
        "--config",
        "conf/quickstart.yaml",
        *TINY,
        f"data.generate={demo}",
        f"data.root={demo}/train",
        f"eval.val_root={demo}/val",
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
