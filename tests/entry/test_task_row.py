"""Adding a task is adding a row: a task row and a head registered by a script (tests/entry/task_row.py) run end to
end through train.py, the head seeing the encoder's feature map, not its pooled feature."""

import json
import subprocess
import sys

import torch

from tests.helpers import ROOT
from tests.helpers.runs import EVAL_TINY


def test_a_new_task_row_and_head_run_end_to_end(class_videos, tmp_path):
    data = class_videos(8)  # 2 classes
    args = [
        str(tmp_path),
        "task=max_probe",
        "eval.head=max",
        f"data.root={data}",
        f"val.root={data}",
        "model.encoder=r3d18",
        "model.base_channels=8",
        "data.batch_size=4",
        "data.num_workers=1",
        "eval.batch_size=4",
        *EVAL_TINY,
        "eval.num_spatial=1",
        "trainer.max_epochs=1",
        "logger.wandb.mode=disabled",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=r",
    ]
    script = [sys.executable, str(ROOT / "tests" / "entry" / "task_row.py")]
    proc = subprocess.run([*script, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["task"] == "max_probe" and metrics["videos"] == 8
    assert f"max_probe: top-1 {metrics['top1']:.2f} over 8 test videos" in proc.stdout  # its one headline metric
    batch, channels, *grid = json.loads((tmp_path / "head_input.json").read_text())
    assert channels == 64 and len(grid) == 3 and batch <= 4  # r3d18 at base 8: 64 channels over (T', H', W')
    state = torch.load(tmp_path / "r" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["state_dict"]["head.linear.weight"].shape == (2, 64)
