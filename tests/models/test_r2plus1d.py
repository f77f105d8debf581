"""R(2+1)D-18 against torchvision's r2plus1d_18 (torchvision/models/video/resnet.py): parameter counts, shapes,
block widths and state-dict key names; SEVERE's checkpoint layout read by model.init; one training step."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from cvrl_pl.config import load_config
from cvrl_pl.models import build_encoder
from cvrl_pl.models.encoder_file import load_encoder_weights, read_encoder
from cvrl_pl.models.r2plus1d import midplanes
from cvrl_pl.module import CVRLModule

# torchvision's R2Plus1D_18_Weights meta: num_params 31,505,325 with its 400-class fc (512 x 400 + 400).
TORCHVISION_PARAMS = 31_505_325
FC_PARAMS = 512 * 400 + 400
# (in, out, stride) of each BasicBlock of layer1..layer4, as VideoResNet._make_layer builds them.
BLOCKS = [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)]
BLOCKS.append((512, 512, 1))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def block_params(c_in: int, c_out: int, stride: int) -> int:
    """Conv and BN parameters of one BasicBlock of Conv2Plus1D, from torchvision's formula."""
    mid = (c_in * c_out * 27) // (c_in * 9 + 3 * c_out)
    conv1 = c_in * mid * 9 + 2 * mid + mid * c_out * 3 + 2 * c_out
    conv2 = c_out * mid * 9 + 2 * mid + mid * c_out * 3 + 2 * c_out
    shortcut = c_in * c_out + 2 * c_out if (stride != 1 or c_in != c_out) else 0
    return conv1 + conv2 + shortcut


@pytest.fixture(scope="module")
def full():
    return build_encoder("r2plus1d18").eval()


def test_parameter_counts_are_torchvisions_less_the_classifier(full):
    assert n_params(full) == TORCHVISION_PARAMS - FC_PARAMS == 31_300_125
    stem = 3 * 45 * 49 + 2 * 45 + 45 * 64 * 3 + 2 * 64
    stages = [sum(block_params(*b) for b in BLOCKS[2 * i : 2 * i + 2]) for i in range(4)]
    assert (stem, stages) == (15_473, [444_032, 1_470_360, 5_874_736, 23_495_524])
    assert n_params(full.stem) == stem
    assert [n_params(getattr(full, f"layer{i + 1}")) for i in range(4)] == stages
    assert stem + sum(stages) == n_params(full)
    assert full.feature_dim == 512


def test_each_block_splits_at_torchvisions_midplanes(full):
    blocks = [b for i in range(4) for b in getattr(full, f"layer{i + 1}")]
    assert [b.mid for b in blocks] == [144, 144, 230, 288, 460, 576, 921, 1152]
    assert [midplanes(c_in, c_out) for c_in, c_out, _ in BLOCKS] == [b.mid for b in blocks]
    assert 64 * 64 * 27 // (64 * 9 + 3 * 64) == 144
    for b, (_, c_out, stride) in zip(blocks, BLOCKS, strict=True):  # both convs of a block share its midplanes
        spatial, temporal = b.conv2[0][0], b.conv1[0][3]
        assert spatial.out_channels == temporal.in_channels == b.mid and spatial.in_channels == c_out
        assert b.conv1[0][0].stride == (1, stride, stride) and temporal.stride == (stride, 1, 1)


def test_feature_map_and_pooled_shapes(full):
    maps = []
    hook = full.layer4.register_forward_hook(lambda module, inputs, out: maps.append(out))
    with torch.no_grad():  # one pass: forward's pooled feature, and the feature map forward_features returned to it
        pooled = full(torch.randn(2, 3, 16, 112, 112))
    hook.remove()
    feature_map = maps[0]
    assert feature_map.shape == (2, 512, 2, 7, 7)
    assert pooled.shape == (2, 512)
    torch.testing.assert_close(pooled, feature_map.mean(dim=(2, 3, 4)))


def torchvision_keys() -> list[str]:
    """The state-dict keys of torchvision's r2plus1d_18 less fc.*, in its order, from the structure of its source."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = ["stem.0.weight", *(f"stem.1.{k}" for k in bn), "stem.3.weight", *(f"stem.4.{k}" for k in bn)]
    for i, (_, _, stride) in enumerate(BLOCKS):
        block = f"layer{i // 2 + 1}.{i % 2}"
        for conv in ("conv1", "conv2"):  # Sequential(Conv2Plus1D(conv, BN, ReLU, conv), BN[, ReLU])
            keys += [f"{block}.{conv}.0.0.weight", *(f"{block}.{conv}.0.1.{k}" for k in bn)]
            keys += [f"{block}.{conv}.0.3.weight", *(f"{block}.{conv}.1.{k}" for k in bn)]
        if stride != 1:
            keys += [f"{block}.downsample.0.weight", *(f"{block}.downsample.1.{k}" for k in bn)]
    return keys


def test_state_dict_keys_are_torchvisions(full):
    keys = torchvision_keys()
    assert {"layer1.0.conv1.0.0.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean"} <= set(
        keys
    )
    assert list(full.state_dict()) == keys


def test_a_severe_checkpoint_loads_as_model_init(tmp_path, full):
    """A plain torchvision-layout state dict, saved from DataParallel ("module.") with its classifier."""
    source = build_encoder("r2plus1d18")
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["module.fc.weight"], state["module.fc.bias"] = torch.zeros(400, 512), torch.zeros(400)
    torch.save({"model": state}, tmp_path / "severe.pth")
    loaded, arch, _ = read_encoder(tmp_path / "severe.pth")
    assert arch == {
        "name": "r2plus1d18",
        "width": 1,
        "base_channels": 64,
        "padding": "symmetric",
        "input_mean": [0.485, 0.456, 0.406],  # ImageNet's, as torchvision and SEVERE feed it
        "input_std": [0.229, 0.224, 0.225],
    }
    target = build_encoder(**arch)
    load_encoder_weights(target, tmp_path / "severe.pth", arch)
    for k, v in source.state_dict().items():
        assert torch.equal(target.state_dict()[k], v), k
    del state["module.layer4.1.conv2.1.weight"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(ValueError, match=r"prefix 'module.'\): missing \['layer4.1.conv2.1.weight'\]"):
        read_encoder(tmp_path / "cut.pth")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="neither a cvrl-pl checkpoint, an exported encoder nor a torchvision"):
        read_encoder(tmp_path / "other.pth")


def test_base_channels_scales_every_stage_and_the_stem():
    model = build_encoder("r2plus1d18", base_channels=16, width=2)
    assert model.stem[0].out_channels == 45 * 32 // 64 == 22 and model.stem[3].out_channels == 32
    assert [getattr(model, f"layer{i + 1}")[0].conv1[1].num_features for i in range(4)] == [32, 64, 128, 256]
    assert model.feature_dim == 256
    with torch.device("meta"):  # docs/recipe.md's width-2 count
        assert n_params(build_encoder("r2plus1d18", 2)) == 125_166_530


def test_rejects_tf_same_padding_wrong_clips_and_initialises_like_torchvision():
    with pytest.raises(ValueError, match="symmetric only, not 'tf_same'.*official R3D TensorFlow weights"):
        build_encoder("r2plus1d18", padding="tf_same")
    with pytest.raises(ValueError, match="symmetric only, not 'same'"):
        build_encoder("r2plus1d18", padding="same")
    model = build_encoder("r2plus1d18", base_channels=8, zero_init_residual=True)
    with pytest.raises(ValueError, match=r"R\(2\+1\)D expects clips of shape \(B, 3, T, H, W\)"):
        model(torch.randn(1, 8, 3, 32, 32))
    assert all(getattr(model, f"layer{i + 1}")[j].conv2[1].weight.abs().sum() == 0 for i in range(4) for j in (0, 1))
    assert all(model.layer1[0].conv1[1].weight == 1) and all(model.stem[1].bias == 0)
    conv = model.layer4[1].conv2[0][0]  # kaiming normal, fan_out, relu: std sqrt(2 / (out x 1 x 3 x 3))
    assert conv.weight.std().item() == pytest.approx((2 / (conv.out_channels * 9)) ** 0.5, rel=0.1)


def test_one_pretraining_step_with_model_encoder_r2plus1d18(tmp_path):
    cfg = load_config(
        None,
        ["model.encoder=r2plus1d18", "model.base_channels=8", "model.proj_hidden_dim=32", "optim.warmup_epochs=0"],
    )
    module = CVRLModule(cfg)
    before = module.encoder.layer4[1].conv2[0][3].weight.detach().clone()
    batch = {"view1": torch.rand(3, 8, 32, 32), "view2": torch.rand(3, 8, 32, 32)}
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader([batch] * 4, batch_size=4))
    assert trainer.global_step == 1
    assert trainer.callback_metrics["train/loss"].isfinite()
    assert not torch.equal(before, module.encoder.layer4[1].conv2[0][3].weight)
