"""R3D encoders: parameter counts from docs/recipe.md, output shapes, accepted clip sizes."""

import pytest
import torch

from cvrl_pl.models import build_encoder

# Parameter counts of a faithful build (r3d50: 31.67M in docs/recipe.md, 31.7M in the paper; width 2: ~126.5M).
EXPECTED = {
    ("r3d18", 1): (20.062e6, 512),
    ("r3d50", 1): (31.672e6, 2048),
    ("r3d50", 2): (126.488e6, 4096),
    ("r3d101", 1): (59.577e6, 2048),
    ("r3d152", 1): (82.037e6, 2048),
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "width"), list(EXPECTED))
def test_parameter_count_and_feature_dim(name, width):
    count, dim = EXPECTED[(name, width)]
    model = build_encoder(name, width)
    assert n_params(model) == pytest.approx(count, abs=0.005e6)
    assert model.feature_dim == dim


def test_r3d50_matches_the_paper():
    assert abs(n_params(build_encoder("r3d50")) - 31.67e6) < 0.05e6


def test_r3d50_layer_layout():
    model = build_encoder("r3d50")
    stem_conv = model.stem[0][0]
    assert stem_conv.kernel_size == (5, 7, 7) and stem_conv.stride == (2, 2, 2)
    assert [len(s) for s in model.stages] == [3, 4, 6, 3]
    # temporal kernels only in res4 and res5; spatial stride 2 in the first block of res3..res5
    first_kt = [stage[0].branch[0][0].kernel_size[0] for stage in model.stages]
    assert first_kt == [1, 1, 3, 3]
    strides = [stage[0].branch[2][0].stride for stage in model.stages]
    assert strides == [(1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2)]


@pytest.mark.parametrize("name", ["r3d18", "r3d50", "r3d101", "r3d152"])
def test_output_shape(name):
    model = build_encoder(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 64, 64))
    assert out.shape == (2, model.feature_dim)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("frames", "height", "width"), [(8, 64, 64), (32, 64, 64), (16, 97, 129), (9, 65, 80)])
def test_r3d50_accepts_frames_8_to_32_and_crops_from_64(frames, height, width):
    model = build_encoder("r3d50").eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, frames, height, width))
    assert out.shape == (1, 2048)


def test_rejects_wrong_layout_and_names():
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        build_encoder("r3d18")(torch.randn(1, 8, 3, 64, 64))
    with pytest.raises(ValueError, match="unknown encoder 'r3d34'"):
        build_encoder("r3d34")


def test_zero_init_residual_makes_blocks_start_as_identity():
    model = build_encoder("r3d18", zero_init_residual=True)
    assert all(stage[0].last_bn.weight.detach().abs().sum().item() == 0 for stage in model.stages)


def test_forward_features_is_the_feature_map_the_pooled_feature_averages():
    """A head that weighs time and space sees (B, C, T', H', W'): T/2 after the stem, H and W down 32 times."""
    model = build_encoder("r3d18", base_channels=8).eval()
    clips = torch.rand(2, 3, 8, 64, 96)
    with torch.no_grad():
        feature_map, pooled = model.forward_features(clips), model(clips)
    assert feature_map.shape == (2, model.feature_dim, 4, 2, 3)
    torch.testing.assert_close(pooled, feature_map.mean(dim=(2, 3, 4)))
