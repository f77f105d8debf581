"""The DataModule: view configs, and real training steps through train.py on files on disk."""

import json

import numpy as np
import torch

from cvrl_pl.config import load_config
from cvrl_pl.data.datamodule import split_index, view_configs
from cvrl_pl.data.index import VideoIndex
from tests.helpers.videos import write_video

TINY = [
    "data.num_frames=4",
    "data.stride=2",
    "data.crop_size=32",
    "data.batch_size=4",
    "data.num_workers=1",
    "model.proj_hidden_dim=64",
    "trainer.log_every_n_steps=1",
    "trainer.checkpoint_every_n_steps=0",
    "data.source=video",
]


def test_view_configs_are_asymmetric_as_in_the_paper():
    v1, v2 = view_configs(load_config(None, ["aug.strength=0.5", "aug.consistent=false"]))
    assert (v1.blur_prob, v2.blur_prob, v1.solarize_prob, v2.solarize_prob) == (1.0, 0.1, 0.0, 0.2)
    assert v1.strength == v2.strength == 0.5 and not v1.consistent and v1.crop_size == 224


def test_view_configs_per_clip():
    """rho = 3: the paper's two probabilities alternate over the clips, or one per clip is given."""
    views = view_configs(load_config(None, ["aug.num_clips=3"]))
    assert [(v.blur_prob, v.solarize_prob) for v in views] == [(1.0, 0.0), (0.1, 0.2), (1.0, 0.0)]
    views = view_configs(load_config(None, ["aug.num_clips=3", "aug.blur_prob=[1.0,0.5,0.1]"]))
    assert [v.blur_prob for v in views] == [1.0, 0.5, 0.1] and len({v.crop_area for v in views}) == 1


def _dataset(root, codec, bad=False):
    ext = {"vp9": "webm", "h264": "mp4"}[codec]
    for c in range(2):
        for i in range(5):
            write_video(root / f"class{c}" / f"v{i}.{ext}", 20 + 3 * i, codec=codec)
    if bad:
        # fixed bytes: random ones can, now and then, look like some other container to FFmpeg
        (root / "class0" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
        (root / "class0" / "empty.webm").write_bytes(b"")
        (root / "class1" / "notes.txt").write_text("not a video")
        write_video(root / "class1" / "short.webm", 3, codec="vp9")  # shorter than a 4 x 2 clip: looped


def test_training_on_vp9_files_with_bad_ones_reports_them_and_trains(train, tmp_path):
    _dataset(tmp_path / "data", "vp9", bad=True)
    proc = train(
        "--config",
        "conf/generated.yaml",
        *TINY,
        f"data.root={tmp_path / 'data'}",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=v",
        "trainer.max_steps=4",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "11 usable videos, 3 excluded" in log
    assert "class0/corrupt.mp4: corrupt" in log and "class0/empty.webm: empty file" in log
    assert "class1/notes.txt: not a video" in log
    assert "1 videos are shorter than one clip (7 frames) and will be looped" in log
    ckpt = torch.load(tmp_path / "v" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4  # 11 videos, batch 4, FILL: 3 steps an epoch; the 4th is in epoch 2


def test_a_mixed_vp9_and_h264_split_trains_with_both_decoders_in_one_batch(train, tmp_path):
    """VP9 files go to DALI's CPU decoder and H.264 files to PyAV, in the same run and the same batches."""
    root = tmp_path / "data"
    for c in range(2):
        for i in range(3):
            write_video(root / f"class{c}" / f"v{i}.webm", 20 + 3 * i, codec="vp9")
            write_video(root / f"class{c}" / f"h{i}.mp4", 20 + 3 * i, codec="h264")
    proc = train(
        "--config",
        "conf/generated.yaml",
        *TINY,
        f"data.root={root}",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=m",
        "trainer.max_steps=3",
        "trainer.trace_batches=true",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "codecs: h264 6, vp9 6" in log
    assert f"decoders for {root} on a CPU: nvdec 0, dali_cpu 6, pyav 6" in log
    paths = [v.path for v in VideoIndex.load(root / ".cvrl_index").videos]
    steps = [json.loads(line) for line in (tmp_path / "m" / "trace" / "rank0.jsonl").read_text().splitlines()]
    assert len(steps) == 3 and all(np.isfinite(s["loss"]) for s in steps)
    kinds = [{paths[i].rsplit(".", 1)[1] for i in s["video_ids"]} for s in steps]
    assert {"webm", "mp4"} in kinds, kinds  # a batch that both decoders filled


def test_missing_root_and_empty_dataset_are_clear_errors(train, tmp_path):
    proc = train("--config", "conf/generated.yaml", *TINY, f"data.root={tmp_path / 'nowhere'}")
    assert proc.returncode == 2 and f"dataset root not found: {tmp_path / 'nowhere'}" in proc.stderr
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "a" / "x.mp4").write_bytes(b"")
    proc = train("--config", "conf/generated.yaml", *TINY, f"data.root={tmp_path / 'empty'}")
    assert proc.returncode == 2 and "x.mp4: empty file" in proc.stderr


def test_a_validation_split_takes_its_own_layout_and_csv(tmp_path):
    """val.* and probe.train.* index like data.*: here a CSV list in a flat folder, which `auto` would call
    unlabelled, with its index file where the config says."""
    root = tmp_path / "val"
    for name, frames in (("x.webm", 12), ("y.webm", 9), ("z.webm", 10)):
        write_video(root / name, frames)
    (tmp_path / "val.csv").write_text("path,label\nx.webm,dog\ny.webm,cat\nz.webm,dog\n")
    cfg = load_config(
        None,
        [f"val.root={root}", "val.layout=csv", f"val.csv={tmp_path}/val.csv", f"val.index={tmp_path}/val_index"],
    )
    index = split_index(cfg.val, section="val", progress=False)
    assert (index.layout, index.classes) == ("csv", ["cat", "dog"])
    assert [(v.path, v.label, v.num_frames) for v in index.videos] == [
        ("x.webm", 1, 12),
        ("y.webm", 0, 9),
        ("z.webm", 1, 10),
    ]
    assert (tmp_path / "val_index").is_dir() and not (root / ".cvrl_index").exists()
