"""Converting the official CVRL TensorFlow checkpoints: the variable mapping (on variables laid out as the
official checkpoints lay them out, made from our own modules), its errors, the bias folding of the head, and the
tool against the official code itself (tests/tools/official_equivalence.py, run with TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cvrl_pl.models import ProjectionHead, build_encoder
from cvrl_pl.tools.convert_official import ConversionError, convert
from tests.helpers import ROOT
from tests.helpers import convert_env as convert_env_helpers
from tests.helpers.convert_env import ConvertEnvError, get_convert_env

BACKBONE = "model/layer_with_weights-0/"
TF_BN = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
# The layers of the official BottleneckBlock3D (official/vision/modeling/layers/nn_blocks_3d.py) and ours, written
# out here rather than taken from the converter: _norm1 and _norm2 have one shape, so have _norm0 and _norm3, and in
# res2 so have _shortcut_conv and _expand_conv, so only their values can tell a swap.
OFFICIAL_BLOCK = {
    "_shortcut_conv": "shortcut.0",
    "_norm0": "shortcut.1",
    "_temporal_conv": "branch.0.0",
    "_norm1": "branch.0.1",
    "_spatial_conv": "branch.2.0",
    "_norm2": "branch.2.1",
    "_expand_conv": "branch.4.0",
    "_norm3": "branch.4.1",
}
# Official variables by their full names in a tf.train.Checkpoint(model=...) of the CVRL pretraining model -> the
# tensor of ours each must fill: the stem, every variable of res2's first block (projection shortcut), some of its
# second (identity shortcut), of res3's first (position 2 + 3 blocks) and of res5's last (position 2 + 16 - 1).
EXPECTED_BACKBONE = {
    f"{BACKBONE}layer_with_weights-0/kernel": "stem.0.0.weight",
    f"{BACKBONE}layer_with_weights-1/gamma": "stem.0.1.weight",
    f"{BACKBONE}layer_with_weights-1/beta": "stem.0.1.bias",
    f"{BACKBONE}layer_with_weights-1/moving_mean": "stem.0.1.running_mean",
    f"{BACKBONE}layer_with_weights-1/moving_variance": "stem.0.1.running_var",
    f"{BACKBONE}layer_with_weights-2/_shortcut_conv/kernel": "stages.0.0.shortcut.0.weight",
    f"{BACKBONE}layer_with_weights-2/_norm0/gamma": "stages.0.0.shortcut.1.weight",
    f"{BACKBONE}layer_with_weights-2/_norm0/beta": "stages.0.0.shortcut.1.bias",
    f"{BACKBONE}layer_with_weights-2/_norm0/moving_mean": "stages.0.0.shortcut.1.running_mean",
    f"{BACKBONE}layer_with_weights-2/_norm0/moving_variance": "stages.0.0.shortcut.1.running_var",
    f"{BACKBONE}layer_with_weights-2/_temporal_conv/kernel": "stages.0.0.branch.0.0.weight",
    f"{BACKBONE}layer_with_weights-2/_norm1/gamma": "stages.0.0.branch.0.1.weight",
    f"{BACKBONE}layer_with_weights-2/_norm1/beta": "stages.0.0.branch.0.1.bias",
    f"{BACKBONE}layer_with_weights-2/_norm1/moving_mean": "stages.0.0.branch.0.1.running_mean",
    f"{BACKBONE}layer_with_weights-2/_norm1/moving_variance": "stages.0.0.branch.0.1.running_var",
    f"{BACKBONE}layer_with_weights-2/_spatial_conv/kernel": "stages.0.0.branch.2.0.weight",
    f"{BACKBONE}layer_with_weights-2/_norm2/gamma": "stages.0.0.branch.2.1.weight",
    f"{BACKBONE}layer_with_weights-2/_norm2/beta": "stages.0.0.branch.2.1.bias",
    f"{BACKBONE}layer_with_weights-2/_norm2/moving_mean": "stages.0.0.branch.2.1.running_mean",
    f"{BACKBONE}layer_with_weights-2/_norm2/moving_variance": "stages.0.0.branch.2.1.running_var",
    f"{BACKBONE}layer_with_weights-2/_expand_conv/kernel": "stages.0.0.branch.4.0.weight",
    f"{BACKBONE}layer_with_weights-2/_norm3/gamma": "stages.0.0.branch.4.1.weight",
    f"{BACKBONE}layer_with_weights-2/_norm3/beta": "stages.0.0.branch.4.1.bias",
    f"{BACKBONE}layer_with_weights-2/_norm3/moving_mean": "stages.0.0.branch.4.1.running_mean",
    f"{BACKBONE}layer_with_weights-2/_norm3/moving_variance": "stages.0.0.branch.4.1.running_var",
    f"{BACKBONE}layer_with_weights-3/_temporal_conv/kernel": "stages.0.1.branch.0.0.weight",
    f"{BACKBONE}layer_with_weights-3/_norm1/moving_variance": "stages.0.1.branch.0.1.running_var",
    f"{BACKBONE}layer_with_weights-3/_norm2/gamma": "stages.0.1.branch.2.1.weight",
    f"{BACKBONE}layer_with_weights-3/_expand_conv/kernel": "stages.0.1.branch.4.0.weight",
    f"{BACKBONE}layer_with_weights-3/_norm3/moving_mean": "stages.0.1.branch.4.1.running_mean",
    f"{BACKBONE}layer_with_weights-5/_shortcut_conv/kernel": "stages.1.0.shortcut.0.weight",
    f"{BACKBONE}layer_with_weights-5/_norm0/beta": "stages.1.0.shortcut.1.bias",
    f"{BACKBONE}layer_with_weights-5/_spatial_conv/kernel": "stages.1.0.branch.2.0.weight",
    f"{BACKBONE}layer_with_weights-17/_norm1/gamma": "stages.3.2.branch.0.1.weight",
    f"{BACKBONE}layer_with_weights-17/_norm2/moving_variance": "stages.3.2.branch.2.1.running_var",
    f"{BACKBONE}layer_with_weights-17/_norm3/beta": "stages.3.2.branch.4.1.bias",
}
# The 3-layer projection head: official Dense (with bias) / BatchNorm layers -> our ProjectionHead's tensors (the
# hidden Dense biases fold into the BatchNorms' moving means, tested below).
EXPECTED_HEAD = {
    "model/layer_with_weights-1/kernel": "0.weight",
    "model/layer_with_weights-2/gamma": "1.weight",
    "model/layer_with_weights-2/beta": "1.bias",
    "model/layer_with_weights-2/moving_variance": "1.running_var",
    "model/layer_with_weights-3/kernel": "3.weight",
    "model/layer_with_weights-4/gamma": "4.weight",
    "model/layer_with_weights-4/moving_variance": "4.running_var",
    "model/layer_with_weights-5/kernel": "6.weight",
    "model/layer_with_weights-6/beta": "7.bias",
    "model/layer_with_weights-7/kernel": "9.weight",
    "model/layer_with_weights-7/bias": "9.bias",
}


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                values = (
                    torch.rand(t.shape, generator=gen) + 0.5
                    if "running_var" in name
                    else torch.randn(t.shape, generator=gen)
                )
                t.copy_(values * (0.1 if t.dim() > 1 else 1.0))
    return module.eval()


def official_variables(encoder, head=None, head_biases=None) -> dict[str, np.ndarray]:
    """``encoder`` (and ``head``) as the official checkpoint names and lays out its variables."""
    state = encoder.state_dict()
    out: dict[str, np.ndarray] = {}

    def conv(name, key):
        out[f"{name}/kernel"] = state[f"{key}.weight"].numpy().transpose(2, 3, 4, 1, 0)

    def norm(name, key, st=state, shift=None):
        for ours, tf in TF_BN.items():
            value = st[f"{key}.{ours}"].numpy()
            out[f"{name}/{tf}"] = value + shift if (shift is not None and ours == "running_mean") else value

    conv(f"{BACKBONE}layer_with_weights-0", "stem.0.0")
    norm(f"{BACKBONE}layer_with_weights-1", "stem.0.1")
    position = 2
    for s, stage in enumerate(encoder.stages):
        for b, block in enumerate(stage):
            for part, ours in OFFICIAL_BLOCK.items():
                if ours.startswith("shortcut") and isinstance(block.shortcut, torch.nn.Identity):
                    continue
                (conv if part.endswith("conv") else norm)(
                    f"{BACKBONE}layer_with_weights-{position}/{part}", f"stages.{s}.{b}.{ours}"
                )
            position += 1
    if head is not None:
        hs = head.state_dict()
        linears = [i for i, m in enumerate(head) if isinstance(m, torch.nn.Linear)]
        for k, i in enumerate(linears):
            dense = f"model/layer_with_weights-{2 * k + 1}"
            out[f"{dense}/kernel"] = hs[f"{i}.weight"].numpy().T
            if k < len(linears) - 1:
                out[f"{dense}/bias"] = head_biases[k]
                norm(f"model/layer_with_weights-{2 * k + 2}", f"{i + 1}", hs, shift=head_biases[k])
            else:
                out[f"{dense}/bias"] = hs[f"{i}.bias"].numpy()
    return out


@pytest.fixture(scope="module")
def small():
    """An R3D-50 at base width 8 with random weights and statistics, padded as the official code pads."""
    return _randomise(build_encoder("r3d50", base_channels=8, padding="tf_same"), seed=0)


def test_the_mapping_fills_every_tensor_by_name_and_shape(small):
    blob = convert(official_variables(small))
    assert blob["arch"] == {"name": "r3d50", "width": 1, "base_channels": 8, "padding": "tf_same"}
    ours = small.state_dict()
    assert set(blob["state_dict"]) == set(ours)
    for key, value in ours.items():
        if value.is_floating_point():
            assert torch.equal(blob["state_dict"][key], value), key
    rebuilt = build_encoder(**blob["arch"]).eval()
    rebuilt.load_state_dict(blob["state_dict"])
    x = torch.randn(1, 3, 8, 40, 36)
    assert torch.equal(rebuilt(x), small(x))
    assert "projector" not in blob


def _in_our_layout(value: np.ndarray) -> torch.Tensor:
    """An official kernel as ours lays it out: (T, H, W, in, out) -> (out, in, T, H, W), (in, out) -> (out, in)."""
    return torch.from_numpy(np.ascontiguousarray(value.transpose(4, 3, 0, 1, 2) if value.ndim == 5 else value.T))


def test_each_official_variable_lands_in_the_tensor_named_for_it(small):
    head = _randomise(ProjectionHead(small.feature_dim, 16, 8, num_layers=3), seed=1)
    biases = [np.zeros(16, np.float32)] * 3
    variables = official_variables(small, head, biases)
    blob = convert(variables)
    for official, ours in EXPECTED_BACKBONE.items():
        assert torch.equal(blob["state_dict"][ours], _in_our_layout(variables[official])), (official, ours)
    for official, ours in EXPECTED_HEAD.items():
        assert torch.equal(blob["projector"]["state_dict"][ours], _in_our_layout(variables[official])), (official, ours)


def test_the_heads_dense_biases_fold_into_its_batchnorm(small):
    head = _randomise(ProjectionHead(small.feature_dim, 16, 8, num_layers=3), seed=1)
    biases = [np.random.default_rng(k).normal(size=16).astype(np.float32) for k in range(3)]
    blob = convert(official_variables(small, head, biases))
    assert blob["projector"]["arch"] == {"hidden_dim": 16, "out_dim": 8, "num_layers": 3}
    converted = ProjectionHead(small.feature_dim, 16, 8, num_layers=3).eval()
    converted.load_state_dict(blob["projector"]["state_dict"])
    x = torch.randn(4, small.feature_dim)
    # The official head: Dense with bias, BN (eval), ReLU; the stored moving means include the biases' shift.
    h = x
    for k in range(3):
        lin, bn = head[3 * k], head[3 * k + 1]
        z = h @ lin.weight.T + torch.from_numpy(biases[k])
        mean = bn.running_mean + torch.from_numpy(biases[k])
        h = torch.relu((z - mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias)
    official = h @ head[9].weight.T + head[9].bias
    torch.testing.assert_close(converted(x), official, rtol=1e-5, atol=1e-5)


def test_errors_name_the_variable(small):
    variables = official_variables(small)
    missing = dict(variables)
    del missing[f"{BACKBONE}layer_with_weights-5/_norm2/moving_variance"]
    with pytest.raises(
        ConversionError, match="no variable model/layer_with_weights-0/layer_with_weights-5/_norm2/moving_variance"
    ):
        convert(missing)
    extra = {**variables, f"{BACKBONE}layer_with_weights-3/_self_gating/kernel": np.zeros((1, 1, 1, 8, 8))}
    with pytest.raises(ConversionError, match="map onto nothing of r3d50: .*layer_with_weights-3/_self_gating/kernel"):
        convert(extra)
    shaped = {**variables, f"{BACKBONE}layer_with_weights-4/_temporal_conv/kernel": np.zeros((3, 1, 1, 32, 8))}
    with pytest.raises(
        ConversionError, match=r"layer_with_weights-4/_temporal_conv/kernel has shape \(8, 32, 3, 1, 1\)"
    ):
        convert(shaped)
    with pytest.raises(ConversionError, match="not a CVRL checkpoint"):
        convert({"model/dense/kernel": np.zeros((2, 2))})
    r3d18_like = {k: v for k, v in variables.items() if "layer_with_weights-1" not in k.split("/")[-2:]}
    r3d18_like[f"{BACKBONE}layer_with_weights-0/kernel"] = np.zeros((3, 3, 3, 3, 8))
    with pytest.raises(ConversionError, match="not CVRL's 5x7x7 stem convolution"):
        convert(r3d18_like)


# --- Against the official code: TensorFlow and tf-models-official in an environment of their own. -----------------


def test_a_package_the_environment_cannot_see_is_named(convert_env, monkeypatch):
    """Run from a Python without torch, the built environment is not rebuilt: the error names what is missing."""
    monkeypatch.setattr(convert_env_helpers, "outer_folders", lambda: [str(ROOT / "src")])
    with pytest.raises(ConvertEnvError, match="torch: ModuleNotFoundError: No module named 'torch'") as raised:
        get_convert_env()
    assert not raised.value.build_failed


@pytest.fixture(scope="module")
def official(convert_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("official")
    done = convert_env.run(str(ROOT / "tests/tools/official_equivalence.py"), str(out), timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    return out, json.loads(done.stdout.strip().splitlines()[-1])


def test_converted_weights_compute_what_the_official_model_computes(official):
    _, results = official
    cases = {k: v for k, v in results.items() if k not in ("errors", "backbone_only")}
    assert list(cases) == ["r3d50 16x224x224", "r3d50 8x113x97", "r3d101 8x113x97", "r3d152 8x113x97"]
    for case, r in cases.items():
        assert r["features"] <= 1e-5 and r["projection"] <= 1e-5, (case, r)
        assert r["arch"]["padding"] == "tf_same" and r["arch"]["name"] == case.split()[0]
        assert "projection head {'hidden_dim': 2048, 'out_dim': 128, 'num_layers': 3}" in r["printed"]
    assert "31.67M parameters" in cases["r3d50 16x224x224"]["printed"]
    # The same weights with PyTorch's symmetric padding are visibly off: why model.padding=tf_same exists.
    backbone = results["backbone_only"]  # as released: the backbone alone, in a folder
    assert backbone["features"] <= 1e-5 and not backbone["head"] and "no projection head" in backbone["printed"]
    assert cases["r3d50 16x224x224"]["features_with_symmetric_padding"] > 1e-3  # 6e-3 on these random weights


def test_bad_checkpoints_are_named_errors_and_write_nothing(official):
    _, results = official
    errors = results["errors"]  # run by official_equivalence.py: one TensorFlow start for all of them
    for name, done in errors.items():
        assert done["code"] == 2 and not done["written"], (name, done)
    assert "not a readable TensorFlow checkpoint" in errors["text"]["stderr"]
    assert "no TensorFlow checkpoint in this folder" in errors["folder"]["stderr"]
    assert "is not CVRL's 5x7x7 stem convolution" in errors["other"]["stderr"]  # another architecture
    assert f"{errors['cut']['checkpoint']}: not a readable TensorFlow checkpoint" in errors["cut"]["stderr"]
