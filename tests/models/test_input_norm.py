"""The encoders' input normalisation: the identity by default (CVRL's), ImageNet's for SEVERE's checkpoints, never
in the state dict, and carried from an encoder file into the suite's config."""

import pytest
import torch

from cvrl_pl.config import ConfigError, load_config
from cvrl_pl.models import build_encoder
from cvrl_pl.models.input_norm import IMAGENET
from cvrl_pl.suites.severe import encoder_overrides


@pytest.mark.parametrize("name", ["r3d18", "r2plus1d18"])
def test_a_normalised_encoder_sees_what_a_plain_one_sees_of_normalised_clips(name):
    torch.manual_seed(0)
    plain = build_encoder(name, base_channels=8).eval()
    normed = build_encoder(name, base_channels=8, input_mean=IMAGENET[0], input_std=IMAGENET[1]).eval()
    assert list(normed.state_dict()) == list(plain.state_dict())  # the values are not weights
    normed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 8, 32, 32)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1, 1) for v in IMAGENET)
    with torch.no_grad():
        torch.testing.assert_close(normed(x), plain((x - mean) / std))
        assert not torch.allclose(normed(x), plain(x), atol=1e-3)
        assert plain.input_norm(x) is x  # the identity costs nothing


def test_the_suite_feeds_a_torchvision_checkpoint_imagenet_normalised_clips(tmp_path):
    state = {f"module.{k}": v for k, v in build_encoder("r2plus1d18").state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "moco.pth")
    overrides = encoder_overrides(str(tmp_path / "moco.pth"))
    assert "model.input_mean=[0.485,0.456,0.406]" in overrides and "model.input_std=[0.229,0.224,0.225]" in overrides
    cfg = load_config(None, overrides)
    assert list(cfg.model.input_std) == [0.229, 0.224, 0.225] and cfg.model.encoder == "r2plus1d18"


def test_the_normalisation_has_three_channels_and_positive_stds():
    with pytest.raises(ConfigError, match="model.input_mean' and 'model.input_std' are"):
        load_config(None, ["model.input_std=[0.2,0.2,0.0]"])
    with pytest.raises(ConfigError, match="three means"):
        load_config(None, ["model.input_mean=[0.5]"])
