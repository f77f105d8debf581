"""The real entry point: a few CPU steps through ``python train.py`` write a checkpoint, and a rerun resumes."""

import math

import pytest
import torch

from cvrl_pl.config import load_config
from cvrl_pl.errors import ConfigError
from cvrl_pl.optim import lr_at
from cvrl_pl.train import check_cpu_bf16_clip
from tests.helpers.runs import TINY, metric_rows


def _losses(run_dir):
    return [float(row["train/loss"]) for row in metric_rows(run_dir)]


def test_train_writes_checkpoint_and_resumes(train, tmp_path):
    args = ["--config", "conf/generated.yaml", *TINY, f"trainer.output_dir={tmp_path}", "trainer.run_name=t"]
    proc = train(*args, "trainer.max_steps=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "t"
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3
    assert ckpt["hyper_parameters"]["cfg"]["data"]["batch_size"] == 4
    assert any(k.startswith("encoder.stem") for k in ckpt["state_dict"])
    assert (run_dir / "config.yaml").is_file()
    first = _losses(run_dir)
    assert len(first) == 3 and all(math.isfinite(v) and v > 0 for v in first)

    # Same command with a later stop: continues from step 3 instead of starting over.
    proc = train(*args, "trainer.max_steps=5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Restored all states from the checkpoint" in proc.stderr + proc.stdout
    assert "`weights_only` was not set" not in proc.stderr + proc.stdout  # saved and loaded with it explicit
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 5
    assert len(_losses(run_dir)) == 5  # 3 logged by the first run, 2 by the resumed one; nothing overwritten


def test_bf16_channels_last_logs_loss_lr_and_retrieval(train, tmp_path):
    # 8 frames: TINY's 4 would be refused, shorter than the stem's 5-frame kernel (test_cpu_bf16_refuses_...).
    # 32 px crops: a quarter of TINY's pixels, for CPU bf16 is slow; what is tested does not depend on the size.
    args = [*TINY, "data.num_frames=8", "data.crop_size=32", f"trainer.output_dir={tmp_path}", "trainer.run_name=b"]
    args.append("trainer.max_steps=3")
    proc = train(
        "--config", "conf/generated.yaml", *args, "trainer.precision=bf16-mixed", "model.channels_last_3d=true"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metric_rows(tmp_path / "b")
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    # quickstart: base_lr 0.3 at batch 4 -> peak 0.3 * 4 / 256; 1 warm-up epoch = 16 videos / 4 = 4 steps
    peak = 0.3 * 4 / 256
    for r in rows:
        assert float(r["train/lr"]) == pytest.approx(lr_at(int(r["step"]), 3, 4, peak), rel=1e-6)
        assert 0.0 <= float(r["train/pos_top1"]) <= 1.0
        assert math.isfinite(float(r["train/loss"]))
        # One logging window per step: 2 views x 4 videos in the step's wall time, none of it waited before step 0.
        assert float(r["perf/clips_per_s"]) > 0 and 0.0 <= float(r["perf/data_wait"]) < 1.0
    assert float(rows[0]["perf/data_wait"]) == 0.0


def test_three_clips_per_video_train(train, tmp_path):
    """aug.num_clips=3 end to end: 3 views x 4 videos a step reach the loss, which every positive pair feeds."""
    args = [*TINY, f"trainer.output_dir={tmp_path}", "trainer.run_name=r", "trainer.max_steps=2", "aug.num_clips=3"]
    proc = train("--config", "conf/generated.yaml", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metric_rows(tmp_path / "r")
    assert len(rows) == 2 and all(math.isfinite(float(r["train/loss"])) for r in rows)
    # at initialisation each positive pair costs about log(1 + 9) (9 negatives of 12 clips, similar projections)
    assert float(rows[0]["train/loss"]) == pytest.approx(math.log(10), abs=0.5)


def test_uneven_global_batch_is_a_config_error(train, tmp_path):
    proc = train(
        "--config",
        "conf/generated.yaml",
        *TINY,
        f"trainer.output_dir={tmp_path}",
        "trainer.accelerator=cpu",
        "trainer.devices=3",
    )
    assert proc.returncode == 2
    assert "data.batch_size=4 is not divisible by the 3 devices" in proc.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def test_cpu_bf16_refuses_a_clip_shorter_than_the_stem_kernel(train, tmp_path):
    """TINY's 4 frames meet R3D's 5-frame stem kernel: torch's CPU bf16 Conv3d gets that weight gradient wrong
    (NaN or garbage, docs/benchmarks.md), so the run stops before its first step and names the way out."""
    args = [*TINY, f"trainer.output_dir={tmp_path}", "trainer.precision=bf16-mixed", "trainer.accelerator=cpu"]
    proc = train("--config", "conf/generated.yaml", *args)
    assert proc.returncode == 2
    assert "data.num_frames=4 with trainer.precision=bf16-mixed on a CPU: 5 Conv3d layers" in proc.stderr
    assert "(the first, stem.0.0, 4 frames for a 5-frame kernel)" in proc.stderr
    assert "set data.num_frames=5 or more, or trainer.precision=32-true" in proc.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize(
    ("task", "data_frames", "eval_frames", "refused"),
    [
        ("pretrain", 8, 4, None),
        ("pretrain", 3, 8, "data"),
        ("finetune", 8, 4, "eval"),
        ("finetune", 4, 5, None),
        ("linear_eval", 4, 2, None),
    ],
)
def test_cpu_bf16_checks_the_clip_that_trains_the_encoder(task, data_frames, eval_frames, refused):
    # pretraining trains on data.* clips, fine-tuning on eval.* clips; linear evaluation freezes the encoder
    overrides = [f"task={task}", f"data.num_frames={data_frames}", f"eval.num_frames={eval_frames}"]
    cfg = load_config("conf/generated.yaml", overrides)
    if refused is None:
        assert check_cpu_bf16_clip(cfg, "bf16-mixed") is None
    else:
        frames = data_frames if refused == "data" else eval_frames
        with pytest.raises(ConfigError, match=rf"^{refused}\.num_frames={frames} with .* {refused}\.num_frames=5 or"):
            check_cpu_bf16_clip(cfg, "bf16-mixed")
