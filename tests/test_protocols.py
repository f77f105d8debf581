"""Linear evaluation and fine-tuning through train.py: frozen vs trained encoder, multi-view test, metrics.json."""

import json

import pytest
import torch

from cvrl_pl.data.synthetic import SyntheticSpec, generate

SMALL = [
    "model.encoder=r3d18",
    "model.base_channels=8",
    "data.batch_size=8",
    "data.num_workers=1",
    "eval.batch_size=8",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "data.num_frames=4",
    "data.crop_size=32",
]
EVAL = [
    "eval.num_frames=4",
    "eval.stride=2",
    "eval.crop_size=32",
    "eval.test_crop_size=32",
    "eval.short_side=32",
    "eval.num_temporal=2",
    "eval.num_spatial=3",
]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny labelled dataset and a checkpoint of a tiny CVRL pretraining on it."""
    from tests.conftest import run_train

    root = tmp_path_factory.mktemp("protocols")
    generate(
        root / "demo",
        SyntheticSpec(train_per_class=4, val_per_class=2, num_frames=16, size=32),
        workers=1,
        progress=False,
    )
    proc = run_train(
        "--config",
        "conf/quickstart.yaml",
        *SMALL,
        "data.generate=null",
        f"data.root={root}/demo/train",
        "eval.val_root=null",
        "trainer.max_steps=2",
        f"trainer.output_dir={root}",
        "trainer.run_name=pre",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, root / "pre" / "checkpoints" / "last.ckpt"


def _encoder(path):
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("encoder.") and v.is_floating_point()}


@pytest.mark.parametrize("task", ["linear_eval", "finetune"])
def test_protocol_trains_a_classifier_and_tests_every_view(train, pretrained, task):
    root, ckpt = pretrained
    proc = train(
        "--config",
        f"conf/{task}.yaml",
        *SMALL,
        *EVAL,
        f"data.root={root}/demo/train",
        f"eval.val_root={root}/demo/val",
        f"model.init={ckpt}",
        f"trainer.output_dir={root}",
        f"trainer.run_name={task}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((root / task / "metrics.json").read_text())
    assert metrics["task"] == task and metrics["init"] == str(ckpt)
    assert metrics["videos"] == 16 and metrics["views_per_video"] == 2.0  # 8 classes x 2 val videos, 2 clips each
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 100.0

    before, after = _encoder(ckpt), _encoder(root / task / "checkpoints" / "last.ckpt")
    assert before.keys() == after.keys()
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    assert unchanged == (task == "linear_eval")  # frozen (BN statistics included) only in linear evaluation


def test_protocol_without_val_split_is_a_config_error(train, pretrained):
    root, _ = pretrained
    proc = train("--config", "conf/linear_eval.yaml", *SMALL, f"data.root={root}/demo/train", "eval.val_root=null")
    assert proc.returncode == 2 and "needs eval.val_root" in proc.stderr
