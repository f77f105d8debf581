"""Configuration: schema defaults are the recipe, overrides merge, and bad input is a named error."""

import re

import pytest
import yaml

from cvrl_pl.config import ConfigError, load_config, markdown_reference
from tests.helpers import ROOT


def test_defaults_are_the_papers_recipe():
    cfg = load_config()
    assert (cfg.model.encoder, cfg.data.num_frames, cfg.data.stride, cfg.data.crop_size) == ("r3d50", 16, 2, 224)
    assert (cfg.data.batch_size, cfg.loss.temperature, cfg.optim.base_lr * 1024 / 256) == (1024, 0.1, 0.32)
    assert (cfg.optim.warmup_epochs, cfg.trainer.max_epochs, cfg.optim.weight_decay) == (5, 800, 1e-6)
    assert (cfg.model.proj_hidden_dim, cfg.model.proj_layers, cfg.model.proj_out_dim) == (2048, 3, 128)
    assert cfg.aug.temporal.distribution == "decreasing" and cfg.aug.temporal.power == 1.0


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  base_lr: 0.1\nmodel:\n  encoder: r3d18\n")
    cfg = load_config(path, ["optim.base_lr=0.2", "data.num_frames=8"])
    assert (cfg.optim.base_lr, cfg.model.encoder, cfg.data.num_frames) == (0.2, "r3d18", 8)


@pytest.mark.parametrize("path", sorted((ROOT / "conf").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    load_config(path)


def test_unknown_key_in_file_names_file_key_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  warmup_epoch: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "'optim.warmup_epoch'" in str(err.value) and "Did you mean 'optim.warmup_epochs'" in str(err.value)


def test_wrong_type_and_bad_choice():
    with pytest.raises(ConfigError, match=r"invalid value for 'data.batch_size'"):
        load_config(None, ["data.batch_size=many"])
    with pytest.raises(ConfigError, match=r"'aug.temporal.distribution' is 'gauss'; allowed values"):
        load_config(None, ["aug.temporal.distribution=gauss"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(None, ["optim.base_lr"])


def test_cli_unknown_key_exits_nonzero_before_training(train, tmp_path):
    proc = train("--config", "conf/generated.yaml", "optim.bse_lr=0.1", f"trainer.output_dir={tmp_path}")
    assert proc.returncode == 2
    assert "unknown config key 'optim.bse_lr'" in proc.stderr and "Did you mean 'optim.base_lr'" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing started


def test_cli_wrong_type_and_missing_file(train):
    proc = train("--config", "conf/generated.yaml", "trainer.max_epochs=ten")
    assert proc.returncode == 2 and "invalid value for 'trainer.max_epochs'" in proc.stderr
    proc = train("--config", "conf/nope.yaml")
    assert proc.returncode == 2 and "config file not found: conf/nope.yaml" in proc.stderr


def test_print_config_prints_resolved_config(train):
    proc = train("--config", "conf/pretrain.yaml", "--print-config", "optim.name=lars")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed["optim"]["name"] == "lars" and printed["model"]["encoder"] == "r3d50"
    assert printed["trainer"]["run_name"] == "cvrl_r3d50_k400"


def test_readme_config_reference_is_in_sync():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- config-reference:start -->\n(.*?)<!-- config-reference:end -->", readme, re.S)
    assert block, "README.md lacks the config-reference markers"
    assert block.group(1) == markdown_reference(), "regenerate with: python -m cvrl_pl.config --markdown"
