"""python -m cvrl_pl.tools.extract_features: the probes' features of every video, in a plain .npz, resumable."""

import json

import numpy as np
import pytest
import torch

import cvrl_pl.tools.extract_features as tool
from cvrl_pl.config import load_config
from cvrl_pl.data.datamodule import EvalClips, eval_loader, split_index
from cvrl_pl.eval.features import extract_features
from cvrl_pl.models import build_encoder
from cvrl_pl.models.encoder_file import ARCH_DEFAULTS
from tests.helpers.charades import write_charades

ARCH = {"name": "r3d18", "width": 1, "base_channels": 8, **ARCH_DEFAULTS}
VIEWS = ["--views", "2,1", "--frames", "4", "--stride", "2", "--crop", "32", "--short-side", "32"]
ARGS = [*VIEWS, "--batch", "4", "--workers", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(class_videos, tmp_path_factory):
    """9 videos of 3 classes and a random tiny encoder, exported as python -m cvrl_pl.tools.export writes it."""
    root = class_videos(9, classes=3)
    torch.manual_seed(0)
    encoder = build_encoder(**ARCH)
    path = tmp_path_factory.mktemp("encoder") / "encoder.pt"
    torch.save({"arch": ARCH, "state_dict": encoder.state_dict()}, path)
    return root, path, encoder


def _extract(data, out, *extra):
    root, path, _ = data
    return tool.main(["--encoder", str(path), "--root", str(root), "--out", str(out), *ARGS, *extra])


def test_the_file_holds_the_features_the_probes_compute_for_the_same_views(data, tmp_path):
    root, path, encoder = data
    assert _extract(data, tmp_path / "f.npz") == 0
    z = np.load(tmp_path / "f.npz")  # plain arrays: no pickle needed
    cfg = load_config(None, [f"data.root={root}", "data.num_workers=1"])
    index = split_index(cfg.data, section="data", progress=False)
    loader = eval_loader(cfg, index, None, mode="test", batch_size=4, clips=EvalClips(4, 2, 32, 2, 1, 32))
    probes = extract_features(encoder, loader, torch.device("cpu"))
    assert z["ids"].tolist() == [index.videos.paths[int(i)] for i in probes.video_ids]
    assert len(z["ids"]) == 9 and z["ids"][0] == "class0/v00.webm"  # relative to the root
    np.testing.assert_allclose(z["features"], probes.features.numpy(), rtol=1e-5, atol=1e-6)
    assert z["features"].shape == (9, encoder.feature_dim) and z["features"].dtype == np.float32
    assert z["labels"].tolist() == probes.labels.tolist() == [int(i[5]) for i in z["ids"]]  # classN/...
    assert z["classes"].tolist() == ["class0", "class1", "class2"]
    config = json.loads(str(z["config"]))
    assert config["arch"] == ARCH and config["views"] == "2,1" and config["encoder"] == str(path.resolve())
    assert not (tmp_path / "f.npz.partial").exists()

    assert _extract(data, tmp_path / "h.npz", "--float16") == 0
    half = np.load(tmp_path / "h.npz")["features"]
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), z["features"], rtol=2e-3, atol=1e-3)


def test_an_interrupted_run_resumes_after_its_last_saved_chunk(data, tmp_path, monkeypatch):
    assert _extract(data, tmp_path / "whole.npz") == 0
    calls = []
    real = tool.clip_features

    def dies_at_the_third_batch(encoder, batch, device):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(encoder, batch, device)

    monkeypatch.setattr(tool, "clip_features", dies_at_the_third_batch)
    with pytest.raises(RuntimeError, match="killed"):
        _extract(data, tmp_path / "f.npz", "--chunk", "1")
    assert len(list((tmp_path / "f.npz.partial").glob("chunk_*.npz"))) == 2  # batches 0 and 1 were saved

    calls.clear()
    monkeypatch.setattr(tool, "clip_features", lambda *a: calls.append(1) or real(*a))
    assert _extract(data, tmp_path / "f.npz", "--chunk", "1") == 0
    assert len(calls) == 3  # 9 videos x 2 views in batches of 4: 5 batches, 2 of them saved before
    resumed, whole = np.load(tmp_path / "f.npz"), np.load(tmp_path / "whole.npz")
    assert resumed["ids"].tolist() == whole["ids"].tolist()
    np.testing.assert_allclose(resumed["features"], whole["features"], rtol=1e-6)


def test_a_missing_encoder_is_a_named_error(data, tmp_path, capsys):
    root, _, _ = data
    assert tool.main(["--encoder", str(tmp_path / "no.pt"), "--root", str(root), "--out", str(tmp_path / "f.npz")]) == 2
    assert f"encoder weights not found: {tmp_path / 'no.pt'}" in capsys.readouterr().err


def test_a_multi_label_split_keeps_each_videos_actions_as_multi_hot_rows(data, tmp_path):
    _, path, _ = data
    videos, annotations = write_charades(tmp_path / "charades")
    split = ["--root", str(videos), "--layout", "charades", "--annotations", str(annotations), "--subset", "test"]
    assert tool.main(["--encoder", str(path), *split, "--out", str(tmp_path / "c.npz"), *ARGS]) == 0
    z = np.load(tmp_path / "c.npz")
    assert z["ids"].tolist() == ["7UPGT.mp4", "RXGAZ.mp4", "YSKX3.mp4"] and z["classes"].tolist() == [
        "c000",
        "c001",
        "c002",
        "c003",
    ]
    assert z["labels"].dtype == np.uint8 and z["labels"].tolist() == [[0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0]]
