"""Encoder weights on disk: a pretraining checkpoint, or an exported encoder that loads without Lightning.

An exported file (``python -m cvrl_pl.tools.export``) is a ``torch.save`` of ``{"arch": {...}, "state_dict": {...},
...}``, where ``arch`` holds the keyword arguments of :func:`cvrl_pl.models.build_encoder`::

    blob = torch.load("encoder.pt", weights_only=True)
    encoder = build_encoder(**blob["arch"])
    encoder.load_state_dict(blob["state_dict"])

``model.init`` also reads a plain torchvision-layout R(2+1)D-18 state dict (SEVERE's published checkpoints): the
tensors themselves or under a "state_dict" or "model" key, with a prefix such as ``module.`` stripped and the
classifier ``fc.*`` dropped.

Such files (exported, or converted from the official TensorFlow weights by tools/convert_official.py) hold
tensors and plain data only, and every file is read with ``weights_only=True``: a downloaded file that would
need to unpickle code (and could run it) is refused, not loaded. Lightning's checkpoints read the same way.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from cvrl_pl.models.input_norm import IDENTITY, IMAGENET
from cvrl_pl.models.r2plus1d import R2Plus1D

# What build_encoder needs to rebuild the same network, its input normalisation included (models/input_norm.py).
ARCH_KEYS = ("name", "width", "base_channels", "padding", "input_mean", "input_std")
# Files and configs from before a key existed: what they were built with.
ARCH_DEFAULTS = {"padding": "symmetric", "input_mean": list(IDENTITY[0]), "input_std": list(IDENTITY[1])}


def arch_of(model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture a ``model`` config section builds, as build_encoder keyword arguments."""
    arch = {"name": model_cfg["encoder"], "width": model_cfg["width"], "base_channels": model_cfg["base_channels"]}
    for key, default in ARCH_DEFAULTS.items():
        value = model_cfg.get(key, default)
        arch[key] = [float(v) for v in value] if isinstance(default, list) else value
    return arch


def read_encoder(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(encoder state dict, architecture, the whole file) of a pretraining ``.ckpt``, an exported encoder or a
    torchvision-layout R(2+1)D-18 state dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = str(exc).strip().splitlines()
        reason = next((ln.strip() for ln in lines if "GLOBAL" in ln or "global" in ln), lines[0] if lines else "")
        raise ValueError(
            f"{path}: refused: loading it would unpickle code, and encoder files hold tensors and plain data only "
            f"({reason}). Export the encoder again from a checkpoint you trust: python -m cvrl_pl.tools.export"
        ) from None
    except (RuntimeError, EOFError) as exc:  # a truncated or foreign file
        raise ValueError(f"{path}: not a readable torch file ({str(exc).strip().splitlines()[0]})") from None
    unknown = f"{path}: neither a cvrl-pl checkpoint, an exported encoder nor a torchvision R(2+1)D-18 state dict"
    if not isinstance(blob, dict):
        raise ValueError(unknown)
    if "arch" in blob:  # exported
        return blob["state_dict"], {**ARCH_DEFAULTS, **blob["arch"]}, blob  # files from before a key existed
    if "state_dict" not in blob or "hyper_parameters" not in blob:
        state = torchvision_r2plus1d(blob, path)
        if state is None:
            raise ValueError(unknown)
        width = state["stem.4.weight"].shape[0]  # base_channels x width: 64 for torchvision's
        # Trained on ImageNet-normalised clips, as torchvision's video models and SEVERE's fine-tuning feed them.
        norm = {"input_mean": list(IMAGENET[0]), "input_std": list(IMAGENET[1])}
        return state, {"name": "r2plus1d18", "width": 1, "base_channels": width, "padding": "symmetric", **norm}, blob
    prefix = "encoder."
    state = {k.removeprefix(prefix): v for k, v in blob["state_dict"].items() if k.startswith(prefix)}
    return state, arch_of(blob["hyper_parameters"]["cfg"]["model"]), blob


def torchvision_r2plus1d(blob: dict, path: str | Path) -> dict[str, torch.Tensor] | None:
    """The R(2+1)D-18 state dict in a torchvision-layout ``blob`` (prefix stripped, ``fc.*`` dropped), or None
    where it holds no ``stem.0.weight``; a mismatch past that point is a ValueError naming the keys at fault."""
    tensors = next((blob[k] for k in ("state_dict", "model") if isinstance(blob.get(k), dict)), blob)
    first = next((k for k in tensors if k.endswith("stem.0.weight")), None)
    if first is None or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        return None
    prefix = first.removesuffix("stem.0.weight")
    state = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    with torch.device("meta"):
        expected = set(R2Plus1D().state_dict())
    missing = expected - set(state) - {k for k in expected if k.endswith("num_batches_tracked")}
    unexpected = set(state) - expected
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a torchvision R(2+1)D-18 state dict (after the prefix '{prefix}'): "
            f"missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
        )
    return state


def load_encoder_weights(encoder: torch.nn.Module, path: str | Path, expected: dict[str, Any]) -> None:
    """Load ``path`` into ``encoder``; an architecture other than ``expected`` (the config's) is a clear error."""
    state, arch, _ = read_encoder(path)
    wrong = [setting(k, arch.get(k)) for k in ARCH_KEYS if arch.get(k) != expected[k]]
    if wrong:
        raise ValueError(f"{path} holds a {arch} encoder, but the config builds {expected}: set {', '.join(wrong)}")
    encoder.load_state_dict(state)


def setting(key: str, value: Any) -> str:
    """The override that sets an architecture key to ``value``: model.encoder=r3d50, model.input_std=[0.229,...]."""
    shown = "[" + ",".join(f"{v:g}" for v in value) + "]" if isinstance(value, list) else value
    return f"model.{'encoder' if key == 'name' else key}={shown}"


def export_encoder(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the encoder of a pretraining checkpoint as a plain state dict with its architecture; returns it."""
    state, arch, source = read_encoder(checkpoint)
    blob = {"arch": arch, "state_dict": state, "source": str(checkpoint), "global_step": source.get("global_step")}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, out)
    return blob
