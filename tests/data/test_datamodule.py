"""The DataModule: decoder choice, view configs, and real training steps through train.py on files on disk."""

import numpy as np
import pytest
import torch

from cvrl_pl.config import ConfigError, load_config
from cvrl_pl.data.datamodule import split_index, view_configs
from cvrl_pl.data.loader import choose_decoder
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


def test_decoder_choice():
    assert choose_decoder("auto", on_gpu=False, codecs={"vp9", "mjpeg"}) == "dali"
    assert choose_decoder("auto", on_gpu=False, codecs={"vp9", "h264"}) == "pyav"
    assert choose_decoder("auto", on_gpu=True, codecs={"h264", "hevc"}) == "dali"  # NVDEC
    assert choose_decoder("auto", on_gpu=True, codecs={"mpeg4", "vp9"}) == "dali"  # UCF-101's AVI on NVDEC
    assert choose_decoder("auto", on_gpu=False, codecs={"mpeg4"}) == "pyav"
    assert choose_decoder("auto", on_gpu=True, codecs={"mpeg4", "msmpeg4v3"}) == "pyav"  # not an NVDEC codec
    with pytest.raises(ConfigError, match="NVDEC decoder cannot decode msmpeg4v3"):
        choose_decoder("dali", on_gpu=True, codecs={"msmpeg4v3", "h264"})
    assert choose_decoder("pyav", on_gpu=True, codecs={"vp9"}) == "pyav"
    with pytest.raises(ConfigError, match="cannot decode h264"):
        choose_decoder("dali", on_gpu=False, codecs={"h264"})


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


def test_training_on_h264_files_decodes_with_pyav(train, tmp_path):
    _dataset(tmp_path / "data", "h264")
    proc = train(
        "--config",
        "conf/generated.yaml",
        *TINY,
        f"data.root={tmp_path / 'data'}",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=h",
        "trainer.max_steps=2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "codecs: h264 10" in proc.stdout + proc.stderr
    assert (tmp_path / "h" / "checkpoints" / "last.ckpt").is_file()


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
        [f"val.root={root}", "val.layout=csv", f"val.csv={tmp_path}/val.csv", f"val.index={tmp_path}/val.json"],
    )
    index = split_index(cfg.val, section="val", progress=False)
    assert (index.layout, index.classes) == ("csv", ["cat", "dog"])
    assert [(v.path, v.label, v.num_frames) for v in index.videos] == [
        ("x.webm", 1, 12),
        ("y.webm", 0, 9),
        ("z.webm", 1, 10),
    ]
    assert (tmp_path / "val.json").is_file() and not (root / ".cvrl_index.json").exists()
