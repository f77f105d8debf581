"""User-facing tools: the augmentation preview writes what the training pipeline really produced, every view."""

import json
import subprocess
import sys

import numpy as np

from dali_pipelines.sampling import clip_frame_indices
from tests.helpers import ROOT
from tests.helpers.videos import read_index, write_video

PLAIN_AUG = [
    "aug.crop_area=[1.0,1.0]",
    "aug.crop_aspect=[1.3333,1.3334]",
    "aug.flip_prob=0.0",
    "aug.jitter_prob=0.0",
    "aug.grayscale_prob=0.0",
    "aug.blur_prob=[0.0,0.0]",
    "aug.solarize_prob=[0.0,0.0]",
]


def test_preview_augment_writes_grid_views_and_samples(tmp_path):
    lengths = {f"a/v{i}.webm": 20 + 4 * i for i in range(5)}
    for rel, n in lengths.items():
        write_video(tmp_path / "data" / rel, n)
    out = tmp_path / "preview"
    cmd = [
        sys.executable,
        "-m",
        "cvrl_pl.tools.preview_augment",
        "--config",
        "conf/generated.yaml",
        "--num",
        "3",
        "--out",
        str(out),
        "data.source=video",
        f"data.root={tmp_path / 'data'}",
        "data.num_frames=5",
        "data.stride=3",
        "data.crop_size=32",
        "data.num_workers=1",
        "aug.num_clips=3",
        *PLAIN_AUG,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    views = np.load(out / "views.npy")
    samples = json.loads((out / "samples.json").read_text())
    assert views.shape == (3, 3, 3, 5, 32, 32) and views.dtype == np.float32  # N x rho x C x T x H x W
    assert views.min() >= 0.0 and views.max() <= 1.0
    assert len(samples) == 3
    for sample_views, sample in zip(views, samples, strict=True):
        assert (sample["stride"], sample["num_frames"]) == (3, 5)
        length = lengths[str(sample["path"]).split("data/")[1]]
        for view, start in zip(sample_views, sample["starts"], strict=True):
            assert [read_index(view[:, t]) for t in range(5)] == clip_frame_indices(start, 5, 3, length).tolist()

    import matplotlib.pyplot as plt

    grid = plt.imread(out / "preview.png")
    assert grid.shape[:2] == (3 * 32, 3 * 5 * 32 + 2 * 4)  # a row per sample, the 3 views' frames side by side
