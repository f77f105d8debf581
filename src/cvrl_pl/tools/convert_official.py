"""Convert an official CVRL TensorFlow checkpoint (tensorflow/models, ``official/projects/video_ssl``) into this
project's exported-encoder format: ``python -m cvrl_pl.tools.convert_official CKPT --out FILE``.

CKPT is a TF2 checkpoint prefix (``.../ckpt-71488``) or the directory that holds it, as in the released tarballs.
TensorFlow's own checkpoint reader reads it (TensorFlow is an optional extra: requirements-convert.txt), then
every backbone variable, and the projection head's when the checkpoint has one, is mapped onto our modules:

- the backbone is a Keras functional model whose layers carry positions in their names (``layer_with_weights-2``):
  the stem convolution, its BatchNorm, then one bottleneck block per layer; inside a block every variable has its
  own name (``_temporal_conv``, ``_norm1``, ..., ``_shortcut_conv``), so each is matched by name and shape, and the
  architecture (R3D-50/101/152, the width, shortcut placement, temporal kernels) is read from the shapes and
  checked against ours;
- the head is Dense (with bias) -> BatchNorm -> ReLU, repeated, then Dense: our hidden Linear layers have no bias,
  so each Dense bias is folded into the BatchNorm's moving mean, which is exact (BN subtracts a constant anyway).

Every unmapped, missing or mis-shaped variable is an error naming it, and no file is written then. The output
loads with ``weights_only=True`` and rebuilds with ``build_encoder(**blob["arch"])``; its ``padding`` is
``tf_same``, the official numerics (models/padding.py), so use it with ``model.padding=tf_same``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import torch

from cvrl_pl.models import ProjectionHead, build_encoder
from cvrl_pl.models.r3d import SPECS

BACKBONE_ROOTS = ("model/layer_with_weights-0/", "backbone/")  # a whole-model checkpoint, or the backbone alone
HEAD_ROOT = "model/layer_with_weights-"
SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
# Our block's modules for each named part of the official BottleneckBlock3D.
BLOCK_PARTS = {
    "_temporal_conv": "branch.0.0",
    "_norm1": "branch.0.1",
    "_spatial_conv": "branch.2.0",
    "_norm2": "branch.2.1",
    "_expand_conv": "branch.4.0",
    "_norm3": "branch.4.1",
    "_shortcut_conv": "shortcut.0",
    "_norm0": "shortcut.1",
}


class ConversionError(ValueError):
    """The checkpoint does not hold the CVRL R3D this tool converts; the message names the variable at fault."""


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every model variable of a TF2 checkpoint (prefix or directory), by its object path; optimizer slots and
    bookkeeping left out."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    import tensorflow as tf  # the optional extra; only this function needs it

    path = os.fspath(path)
    prefix = tf.train.latest_checkpoint(path) if os.path.isdir(path) else path
    if prefix is None:
        raise ConversionError(f"{path}: no TensorFlow checkpoint in this folder")
    try:
        reader = tf.train.load_checkpoint(prefix)
        names = reader.get_variable_to_shape_map()
        return {
            name.removesuffix(SUFFIX): reader.get_tensor(name)
            for name in names
            if name.endswith(SUFFIX) and "OPTIMIZER_SLOT" not in name and not name.startswith(("optimizer/", "save_"))
        }
    except (tf.errors.OpError, ValueError, IndexError) as exc:  # IndexError: a data file cut short
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path}: not a readable TensorFlow checkpoint: {first}") from None


def _layers(variables: dict[str, np.ndarray], root: str) -> dict[int, dict[str, np.ndarray]]:
    """``root``'s functional layers by position: {position: {variable path inside the layer: value}}."""
    found: dict[int, dict[str, np.ndarray]] = {}
    pattern = re.compile(re.escape(root) + r"layer_with_weights-(\d+)/(.+)$")
    for name, value in variables.items():
        match = pattern.match(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return found


class _Mapper:
    """Fills a torch state dict from official variables, checking names and shapes, and remembering what was used."""

    def __init__(self, variables: dict[str, np.ndarray]):
        self.variables, self.used = variables, set()
        self.state: dict[str, torch.Tensor] = {}

    def take(self, name: str) -> np.ndarray:
        if name not in self.variables:
            raise ConversionError(f"the checkpoint has no variable {name}")
        self.used.add(name)
        return self.variables[name]

    def put(self, key: str, value: np.ndarray, expected: torch.Size, source: str) -> None:
        if tuple(value.shape) != tuple(expected):
            raise ConversionError(f"{source} has shape {tuple(value.shape)}, but {key} needs {tuple(expected)}")
        self.state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    def conv(self, key: str, name: str, target: dict[str, torch.Tensor]) -> None:
        kernel = self.take(f"{name}/kernel")  # (T, H, W, in, out) -> (out, in, T, H, W)
        self.put(f"{key}.weight", kernel.transpose(4, 3, 0, 1, 2), target[f"{key}.weight"].shape, f"{name}/kernel")

    def norm(self, key: str, name: str, target: dict[str, torch.Tensor], mean_shift: np.ndarray | None = None) -> None:
        for tf_name, ours in BN_NAMES.items():
            value = self.take(f"{name}/{tf_name}")
            if tf_name == "moving_mean" and mean_shift is not None:
                value = value - mean_shift  # BN(W x + b) == BN'(W x) with the mean moved by b
            self.put(f"{key}.{ours}", value, target[f"{key}.{ours}"].shape, f"{name}/{tf_name}")
        self.state[f"{key}.num_batches_tracked"] = torch.tensor(0)

    def unused(self, prefixes: tuple[str, ...]) -> list[str]:
        return sorted(n for n in self.variables if n.startswith(prefixes) and n not in self.used)


def infer_arch(blocks: dict[int, dict[str, np.ndarray]]) -> dict:
    """The build_encoder arguments of an official backbone: depth from where its stages start (the blocks with a
    shortcut convolution), width from the stem."""
    stem = blocks.get(0, {}).get("kernel")
    if stem is None or stem.ndim != 5 or stem.shape[:4] != (5, 7, 7, 3):
        raise ConversionError(
            "the backbone's first layer is not CVRL's 5x7x7 stem convolution (a kernel (5, 7, 7, 3, C))"
        )
    positions = sorted(p for p in blocks if p >= 2)
    starts = [i for i, p in enumerate(positions) if "_shortcut_conv/kernel" in blocks[p]]
    counts = tuple(b - a for a, b in zip(starts, [*starts[1:], len(positions)], strict=True))
    name = next((n for n, spec in SPECS.items() if spec.bottleneck and spec.blocks == counts), None)
    if name is None or starts[:1] != [0]:
        raise ConversionError(f"blocks per stage {counts} are not those of an R3D-50/101/152")
    channels = int(stem.shape[4])
    width, base = (channels // 64, 64) if channels % 64 == 0 else (1, channels)
    return {"name": name, "width": width, "base_channels": base, "padding": "tf_same"}


def convert(variables: dict[str, np.ndarray]) -> dict:
    """The exported-encoder blob (arch, state_dict, and the projection head when present) of official variables."""
    root = next((r for r in BACKBONE_ROOTS if any(n.startswith(r) for n in variables)), None)
    if root is None:
        raise ConversionError(f"no backbone variables (under {' or '.join(BACKBONE_ROOTS)}): not a CVRL checkpoint")
    blocks = _layers(variables, root)
    arch = infer_arch(blocks)
    encoder = build_encoder(**arch)
    target, mapper = encoder.state_dict(), _Mapper(variables)
    mapper.conv("stem.0.0", f"{root}layer_with_weights-0", target)
    mapper.norm("stem.0.1", f"{root}layer_with_weights-1", target)
    position = 2
    for s, stage in enumerate(encoder.stages):
        for b, block in enumerate(stage):
            layer = f"{root}layer_with_weights-{position}"
            has_shortcut = not isinstance(block.shortcut, torch.nn.Identity)
            for part, ours in BLOCK_PARTS.items():
                if part in ("_shortcut_conv", "_norm0") and not has_shortcut:
                    continue
                (mapper.conv if part.endswith("conv") else mapper.norm)(
                    f"stages.{s}.{b}.{ours}", f"{layer}/{part}", target
                )
            position += 1
    extra = mapper.unused((root,))
    if extra:
        raise ConversionError(f"backbone variables that map onto nothing of {arch['name']}: {', '.join(extra[:5])}")
    encoder.load_state_dict(mapper.state)  # every tensor of ours filled
    blob = {"arch": arch, "state_dict": mapper.state, "converted_from": "tensorflow/models official/projects/video_ssl"}
    if root == BACKBONE_ROOTS[0] and f"{HEAD_ROOT}1/kernel" in variables:
        blob["projector"] = _convert_head(variables, encoder.feature_dim)
    return blob


def _convert_head(variables: dict[str, np.ndarray], in_dim: int) -> dict:
    """The projection head: Dense, BN pairs (the model's layers 1, 2, ...), then the output Dense."""
    dense = sorted(int(m.group(1)) for n in variables if (m := re.match(rf"{HEAD_ROOT}(\d+)/kernel$", n)))
    if not dense or dense != list(range(1, 2 * len(dense), 2)):
        raise ConversionError(f"the projection head's layers are not Dense/BatchNorm pairs then a Dense: {dense}")
    hidden, out = variables[f"{HEAD_ROOT}1/kernel"].shape[1], variables[f"{HEAD_ROOT}{dense[-1]}/kernel"].shape[1]
    head = ProjectionHead(in_dim, int(hidden), int(out), num_layers=len(dense) - 1)
    target, mapper = head.state_dict(), _Mapper(variables)
    for i, position in enumerate(dense):
        ours, kernel = 3 * i, mapper.take(f"{HEAD_ROOT}{position}/kernel")
        bias = mapper.take(f"{HEAD_ROOT}{position}/bias")
        mapper.put(f"{ours}.weight", kernel.T, target[f"{ours}.weight"].shape, f"{HEAD_ROOT}{position}/kernel")
        if i < len(dense) - 1:
            mapper.norm(f"{ours + 1}", f"{HEAD_ROOT}{position + 1}", target, mean_shift=bias)
        else:
            mapper.put(f"{ours}.bias", bias, target[f"{ours}.bias"].shape, f"{HEAD_ROOT}{position}/bias")
    extra = mapper.unused(tuple(f"{HEAD_ROOT}{p}/" for p in range(1, dense[-1] + 2)))
    if extra:
        raise ConversionError(f"projection head variables that map onto nothing: {', '.join(extra[:5])}")
    head.load_state_dict(mapper.state)
    return {
        "arch": {"hidden_dim": int(hidden), "out_dim": int(out), "num_layers": len(dense) - 1},
        "state_dict": mapper.state,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a TF2 checkpoint prefix (.../ckpt-N) or the folder that holds it")
    parser.add_argument("--out", required=True, type=Path, help="output file, e.g. cvrl_r3d50_k600.pt")
    args = parser.parse_args(argv)
    try:
        blob = convert(read_checkpoint(args.checkpoint))
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    blob["source"] = str(args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    torch.save(blob, partial)
    os.replace(partial, args.out)  # never a half-written file under the output name
    params = sum(v.numel() for k, v in blob["state_dict"].items() if "running" not in k and "num_batches" not in k)
    head = blob.get("projector")
    shown = f"projection head {head['arch']}" if head else "no projection head in the checkpoint"
    print(f"wrote {args.out}: {blob['arch']}, {params / 1e6:.2f}M parameters; {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
