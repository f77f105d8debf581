"""Configuration: schema defaults are the recipe, overrides merge, and bad input is a named error."""

import re

import pytest
import yaml

from cvrl_pl.config import (
    RENAMED,
    ConfigError,
    DeprecatedKeyWarning,
    as_schema,
    choices,
    load_config,
    markdown_reference,
)
from cvrl_pl.data.layouts import LAYOUTS
from cvrl_pl.models.encoders import ENCODERS
from cvrl_pl.optim import OPTIMIZERS
from dali_pipelines.sampling import DISTRIBUTIONS
from tests.helpers import ROOT
from tests.helpers.runs import train_config_only


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


@pytest.mark.parametrize(
    "path", sorted([*(ROOT / "conf").glob("*.yaml"), *(ROOT / "conf" / "severe").glob("*.yaml")]), ids=lambda p: p.name
)
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


def test_clips_per_video_and_their_probabilities_are_checked():
    assert load_config(None, ["aug.num_clips=4"]).aug.num_clips == 4
    with pytest.raises(ConfigError, match="'aug.num_clips' is 1; CVRL needs at least 2"):
        load_config(None, ["aug.num_clips=1"])
    with pytest.raises(ConfigError, match=r"'aug.solarize_prob': 3 values for 4 clips.*\(aug.num_clips=4\)"):
        load_config(None, ["aug.num_clips=4", "aug.solarize_prob=[0.0,0.1,0.2]"])


def test_cli_unknown_key_exits_nonzero_before_training(train, tmp_path):
    proc = train("--config", "conf/generated.yaml", "optim.bse_lr=0.1", f"trainer.output_dir={tmp_path}")
    assert proc.returncode == 2
    assert "unknown config key 'optim.bse_lr'" in proc.stderr and "Did you mean 'optim.base_lr'" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing started


def test_cli_wrong_type_and_missing_file():
    proc = train_config_only("--config", "conf/generated.yaml", "trainer.max_epochs=ten")
    assert proc.returncode == 2 and "invalid value for 'trainer.max_epochs'" in proc.stderr
    proc = train_config_only("--config", "no_such_config.yaml")
    assert proc.returncode == 2 and "config file not found: no_such_config.yaml" in proc.stderr


def test_print_config_prints_resolved_config():
    proc = train_config_only("--config", "conf/pretrain.yaml", "--print-config", "optim.name=lars")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed["optim"]["name"] == "lars" and printed["model"]["encoder"] == "r3d50"
    assert printed["trainer"]["run_name"] == "cvrl_r3d50_k400"


def test_readme_config_reference_is_in_sync():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- config-reference:start -->\n(.*?)<!-- config-reference:end -->", readme, re.S)
    assert block, "README.md lacks the config-reference markers"
    assert block.group(1) == markdown_reference(), "regenerate with: python -m cvrl_pl.config --markdown"


def test_choices_come_from_the_registries_they_name():
    allowed = choices()
    assert allowed["model.encoder"] == tuple(ENCODERS)
    assert allowed["optim.name"] == tuple(OPTIMIZERS)
    assert allowed["aug.temporal.distribution"] == tuple(DISTRIBUTIONS)
    for key in ("data.layout", "val.layout", "probe.train.layout"):
        assert allowed[key] == ("auto", *LAYOUTS)
    reference = markdown_reference()
    for key, names in allowed.items():  # and the README's table lists them
        row = next(line for line in reference.splitlines() if line.startswith(f"| `{key}` |"))
        assert "\\|".join(names) in row


def test_an_unknown_encoder_names_the_registrys_choices():
    allowed = r"'model.encoder' is 'r3d34'; allowed values: r3d18, r3d50, r3d101, r3d152, r2plus1d18"
    with pytest.raises(ConfigError, match=allowed):
        load_config(None, ["model.encoder=r3d34"])


def test_validation_splits_take_layout_and_csv(tmp_path):
    cfg = load_config(None, [f"val.root={tmp_path}", "val.layout=csv", f"val.csv={tmp_path}/val.csv"])
    assert (cfg.val.layout, cfg.val.csv) == ("csv", f"{tmp_path}/val.csv")
    cfg = load_config(None, ["probe.train.layout=kinetics", "probe.train.csv=k400.csv", "probe.train.root=k400"])
    assert (cfg.probe.train.root, cfg.probe.train.layout, cfg.probe.train.csv) == ("k400", "kinetics", "k400.csv")
    with pytest.raises(ConfigError, match="'val.layout' is 'tree'"):
        load_config(None, ["val.layout=tree"])


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()))
def test_renamed_keys_still_load_with_a_warning_naming_the_new_key(tmp_path, old, new):
    value = {
        "eval.probe_views": "[2,1]",
        "eval.knn_temperature": "0.5",
        "eval.probe_lr": "0.5",
        "eval.val_layout": "ucf101",
        "eval.val_subset": "test",
        "eval.val_split": "2",
    }.get(old, "7")
    if old.endswith(("_root", "_annotations")):
        value = "some/split"
    expected = load_config(None, [f"{new}={value}"])
    with pytest.warns(DeprecatedKeyWarning, match=rf"override '{old}=.*'{old}' is deprecated; use '{new}'"):
        from_override = load_config(None, [f"{old}={value}"])
    section, leaf = old.split(".")
    path = tmp_path / "old.yaml"
    path.write_text(f"{section}:\n  {leaf}: {value}\n")
    with pytest.warns(DeprecatedKeyWarning, match=rf"{path}: config key '{old}' is deprecated; use '{new}'"):
        from_file = load_config(path)
    assert from_override == expected == from_file


def test_old_and_new_name_together_is_an_error(tmp_path):
    path = tmp_path / "both.yaml"
    path.write_text("eval:\n  val_root: a\nval:\n  root: b\n")
    both = "both 'eval.val_root' \\(deprecated\\) and 'val.root' are set"
    with pytest.raises(ConfigError, match=both), pytest.warns(DeprecatedKeyWarning):
        load_config(path)


def test_a_checkpoints_old_config_rebuilds_under_the_new_names():
    stored = {"eval": {"val_root": "data/val", "probe_epochs": 3, "num_frames": 8}, "model": {"encoder": "r3d18"}}
    with pytest.warns(DeprecatedKeyWarning) as caught:
        cfg = as_schema(stored)
    assert sorted(str(w.message).split(": ", 1)[1] for w in caught) == [
        "config key 'eval.probe_epochs' is deprecated; use 'probe.epochs' (it is read as 'probe.epochs' for now)",
        "config key 'eval.val_root' is deprecated; use 'val.root' (it is read as 'val.root' for now)",
    ]
    assert (cfg.val.root, cfg.probe.epochs, cfg.eval.num_frames, cfg.model.encoder) == ("data/val", 3, 8, "r3d18")
    assert stored["eval"]["val_root"] == "data/val"  # the caller's dict is left as it was


def test_dali_threads_is_auto_or_a_positive_number():
    assert load_config(None, []).data.dali_threads == "auto"
    assert load_config(None, ["data.dali_threads=6"]).data.dali_threads == "6"
    for bad in ("0", "many", "-2"):
        with pytest.raises(ConfigError, match=rf"'data.dali_threads' is '{bad}'; allowed values: auto, or a positive"):
            load_config(None, [f"data.dali_threads={bad}"])


def test_label_subset_keys_are_checked_against_the_task():
    assert load_config(None, ["task=finetune", "data.label_fraction=0.01"]).data.label_fraction == 0.01
    with pytest.raises(ConfigError, match=r"'data.label_fraction' is 0.0; allowed values: \(0, 1\]"):
        load_config(None, ["task=finetune", "data.label_fraction=0"])
    with pytest.raises(
        ConfigError, match="data.label_fraction selects .* task=linear_eval, finetune or attentive_probe, not task=pre"
    ):
        load_config(None, ["data.label_fraction=0.1"])
    with pytest.raises(ConfigError, match="data.label_subset selects .* not task=retrieval"):
        load_config(None, ["task=retrieval", "data.label_subset=l.txt"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.selection=[last,best]", "eval.selection' is .*allowed values: last, best_on_test"),
        ("eval.selection=[]", "eval.selection' is"),
        ("eval.selection=[last,last]", "listed twice"),
        ("eval.jitter=[0.4,0.4]", "four non-negative maxima"),
        ("eval.train_clips=0", "eval.train_clips' is 0"),
        ("eval.fps=0", "eval.fps' is 0"),
        ("optim.milestones=[10,6]", "ascending epochs"),
        ("optim.schedule=steps", "optim.schedule' is 'steps'; allowed values: cosine, multistep"),
    ],
)
def test_protocol_keys_are_checked_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_severe_configs_read_their_data_tree_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEVERE_DATA", "/data/severe")
    cfg = load_config(ROOT / "conf" / "severe" / "gym99.yaml")
    assert cfg.data.root == cfg.val.root == "/data/severe/gym/videos"
    assert (cfg.optim.name, list(cfg.optim.milestones), cfg.eval.fps, cfg.eval.train_clips) == (
        "adam",
        [6, 10, 14],
        16.0,
        10,
    )
    assert list(cfg.eval.selection) == ["last", "best_on_test"]


def test_a_grid_of_heads_needs_a_frozen_encoder_the_last_epoch_and_a_held_out_fraction():
    grid = ["eval.heads.lr=[1e-3,1e-2]"]
    assert load_config(None, ["task=linear_eval", *grid]).eval.heads.holdout == 0.1
    with pytest.raises(ConfigError, match="task=finetune trains no head on a frozen encoder"):
        load_config(None, ["task=finetune", *grid])
    with pytest.raises(ConfigError, match=r"selection' \(\[.last., .best_on_test.\]\).*eval.selection=\[last"):
        load_config(None, ["task=attentive_probe", *grid, "eval.selection=[last,best_on_test]"])
    with pytest.raises(ConfigError, match=r"'eval.heads.holdout' is 1.0; allowed values: \(0, 1\)"):
        load_config(None, ["task=linear_eval", "eval.heads.weight_decay=[0.1]", "eval.heads.holdout=1.0"])
    with pytest.raises(ConfigError, match="'eval.segments' is 2: several clips a view feed a trained head, not task=r"):
        load_config(None, ["task=retrieval", "eval.segments=2"])
    with pytest.raises(ConfigError, match="'eval.segments' is 0; allowed values: a positive integer"):
        load_config(None, ["task=linear_eval", "eval.segments=0"])
