"""Run with TensorFlow and tf-models-official (requirements-convert.txt): builds the official CVRL pretraining model
from the Model Garden's experiment factory, gives every weight and BatchNorm statistic random values, saves it as
the trainer does (tf.train.Checkpoint(model=...)), converts it with ``python -m cvrl_pl.tools.convert_official``,
and prints, as one JSON line, the relative error of our pooled features and projections against the official
model's on the same clips. Used by tests/tools/test_convert_official.py.

    python tests/tools/official_equivalence.py OUT_DIR
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import torch  # noqa: E402
from official.core import exp_factory  # noqa: E402
from official.projects.video_ssl.configs import video_ssl  # noqa: E402, F401 (registers the experiments)
from official.projects.video_ssl.modeling import video_ssl_model  # noqa: E402, F401 (registers the builder)
from official.vision.configs import backbones_3d  # noqa: E402
from official.vision.modeling import factory_3d  # noqa: E402

from cvrl_pl.models import ProjectionHead, build_encoder  # noqa: E402
from cvrl_pl.tools import convert_official  # noqa: E402

# The block specs and stem of the official cvrl_pretrain_k600_200ep.yaml, per depth (temporal kernels 1 in
# res2/res3, 3 in res4/res5; no temporal strides after the stem).
BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
CASES = [(50, (1, 16, 224, 224)), (50, (2, 8, 113, 97)), (101, (1, 8, 113, 97)), (152, (1, 8, 113, 97))]


def official_model(model_id: int, shape: tuple[int, ...]):
    cfg = exp_factory.get_exp_config("video_ssl_pretrain_kinetics600")
    backbone = cfg.task.model.backbone.resnet_3d
    backbone.model_id = model_id
    backbone.block_specs = tuple(
        backbones_3d.ResNet3DBlock(temporal_kernel_sizes=(k,) * n, temporal_strides=1, use_self_gating=False)
        for k, n in zip((1, 1, 3, 3), BLOCKS[model_id], strict=True)
    )
    backbone.stem_conv_temporal_kernel_size = 5
    backbone.stem_conv_temporal_stride = 2
    backbone.stem_pool_temporal_stride = 1
    specs = tf_keras.layers.InputSpec(shape=[None, *shape[1:], 3])
    return factory_3d.build_model(cfg.task.model.model_type, specs, cfg.task.model, num_classes=600)


def randomise(model, seed: int) -> None:
    """Every variable random, at scales that keep the activations tame through 150 layers."""
    rng = np.random.default_rng(seed)
    for v in model.variables:
        name, shape = v.name, v.shape.as_list()
        if "moving_variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in name:
            value = rng.uniform(0.2, 0.6, shape)
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            value = rng.normal(0.0, 0.1, shape)
        else:  # kernels: fan-in scaled
            value = rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[:-1])), shape)
        v.assign(value.astype(np.float32))


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


def symmetric_padding_error(blob: dict, x: torch.Tensor, features: np.ndarray) -> float:
    """The same weights in PyTorch's symmetric padding: what ``model.padding=tf_same`` is for."""
    encoder = build_encoder(**{**blob["arch"], "padding": "symmetric"}).eval()
    encoder.load_state_dict(blob["state_dict"])
    with torch.no_grad():
        return relative_error(encoder(x).numpy(), features)


def backbone_only(out: Path) -> dict:
    """The released checkpoints hold the backbone alone (tf.train.Checkpoint(backbone=...)): convert one."""
    shape = (1, 8, 113, 97)
    model = official_model(50, shape)
    randomise(model, seed=7)
    prefix = tf.train.Checkpoint(backbone=model.backbone).save(str(out / "backbone_only" / "ckpt"))
    clips = np.random.default_rng(2).uniform(0, 1, shape + (3,)).astype(np.float32)
    endpoints = model.backbone(clips, training=False)
    features = tf.reduce_mean(endpoints[max(endpoints)], axis=[1, 2, 3]).numpy()
    converted = out / "backbone_only.pt"
    command = [
        sys.executable,
        "-m",
        "cvrl_pl.tools.convert_official",
        str(Path(prefix).parent),
        "--out",
        str(converted),
    ]
    done = subprocess.run(command, capture_output=True, text=True)  # the folder, as in a released tarball
    if done.returncode:
        raise SystemExit(f"backbone only: conversion failed: {done.stderr}")
    blob = torch.load(converted, weights_only=True)
    encoder = build_encoder(**blob["arch"]).eval()
    encoder.load_state_dict(blob["state_dict"])
    with torch.no_grad():
        ours = encoder(torch.from_numpy(clips).permute(0, 4, 1, 2, 3)).numpy()
    return {"features": relative_error(ours, features), "head": "projector" in blob, "printed": done.stdout.strip()}


def convert_here(checkpoint: str | Path, converted: Path) -> subprocess.CompletedProcess:
    """The converter's command line run in this process (TensorFlow is imported once, not once per conversion):
    its exit code and what it printed. backbone_only runs the command itself."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = convert_official.main([str(checkpoint), "--out", str(converted)])
    return subprocess.CompletedProcess([], code, stdout.getvalue(), stderr.getvalue())


def bad_checkpoints(out: Path, other: str) -> dict[str, dict]:
    """Per bad input (a text file, a folder without a checkpoint, a checkpoint of another model, a truncated one):
    the converter's exit code, its error, and whether anything was written."""
    bad = out / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("not a checkpoint\n")
    cut = out / "cut"
    shutil.copytree(out / "r3d50_113", cut)
    (data,) = cut.glob("ckpt-1.data-*")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    found = {}
    for name, checkpoint in [("text", bad / "notes.txt"), ("folder", bad), ("other", other), ("cut", cut / "ckpt-1")]:
        target = bad / "out.pt"
        done = convert_here(checkpoint, target)
        written = target.exists() or bool(list(bad.glob("*.partial")))
        found[name] = {"checkpoint": str(checkpoint), "code": done.returncode, "stderr": done.stderr}
        found[name]["written"] = written
    return found


def other_checkpoint(out: Path) -> str:
    """A TF checkpoint of another model (for the converter's error test)."""
    model = tf_keras.Sequential([tf_keras.layers.Dense(4, input_shape=(3,))])
    return tf.train.Checkpoint(model=model).save(str(out / "other" / "ckpt"))


def main(out_dir: str) -> None:
    out = Path(out_dir)
    results = {}
    for model_id, shape in CASES:
        case = f"r3d{model_id} {'x'.join(map(str, shape[1:]))}"
        model = official_model(model_id, shape)
        randomise(model, seed=model_id)
        prefix = tf.train.Checkpoint(model=model).save(str(out / f"r3d{model_id}_{shape[2]}" / "ckpt"))
        clips = np.random.default_rng(1).uniform(0, 1, shape + (3,)).astype(np.float32)  # N, T, H, W, C
        endpoints = model.backbone(clips, training=False)
        features = tf.reduce_mean(endpoints[max(endpoints)], axis=[1, 2, 3]).numpy()
        projection = model(clips, training=False).numpy()

        converted = out / f"r3d{model_id}_{shape[2]}.pt"
        done = convert_here(prefix, converted)
        if done.returncode:
            raise SystemExit(f"{case}: conversion failed: {done.stderr}")
        blob = torch.load(converted, weights_only=True)
        encoder = build_encoder(**blob["arch"]).eval()
        encoder.load_state_dict(blob["state_dict"])
        head = ProjectionHead(encoder.feature_dim, **blob["projector"]["arch"]).eval()
        head.load_state_dict(blob["projector"]["state_dict"])
        x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3)
        with torch.no_grad():
            ours = encoder(x)
            ours_projection = head(ours)
        results[case] = {
            "features": relative_error(ours.numpy(), features),
            "features_with_symmetric_padding": symmetric_padding_error(blob, x, features),
            "projection": relative_error(ours_projection.numpy(), projection),
            "arch": blob["arch"],
            "printed": done.stdout.strip(),
        }
    results["backbone_only"] = backbone_only(out)
    results["errors"] = bad_checkpoints(out, other_checkpoint(out))
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
