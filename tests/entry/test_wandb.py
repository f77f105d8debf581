"""W&B: an offline run logs the resolved config, the LR, the augmentation preview and the probes, next to the CSV
files; a resumed run continues the same W&B run; the sweep's command, expanded as the agent does, trains."""

import os
import random
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

from cvrl_pl.data.synthetic import SyntheticSpec, generate
from tests.helpers import ROOT
from tests.helpers.runs import TINY, metric_rows
from tests.helpers.wandb_records import logged

SWEEP = ROOT / "conf" / "sweeps" / "aug_strength.yaml"


def test_offline_wandb_logs_config_lr_preview_next_to_csv_and_resumes_the_same_run(train, tmp_path):
    args = ["--config", "conf/generated.yaml", *TINY, "logger.wandb.mode=offline", "aug.strength=0.7"]
    args += [f"trainer.output_dir={tmp_path}", "trainer.run_name=w"]
    proc = train(*args, "trainer.max_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "w"
    assert "wandb sync" in proc.stdout + proc.stderr  # offline: W&B says how to upload
    config, history = logged(run_dir)
    assert config["aug.strength"] == 0.7 and config["model.encoder"] == "r3d18"  # the resolved config, dotted
    assert config["data.batch_size"] == 4
    lrs = [row["train/lr"] for row in history if "train/lr" in row]
    csv_lrs = [float(row["train/lr"]) for row in metric_rows(run_dir)]
    assert lrs == pytest.approx(csv_lrs) and len(lrs) == 2  # the same metrics are in the CSV files
    (preview,) = [row for row in history if "aug/preview/height" in row]
    # 4 clips x 64 px rows; both views of 4 frames of 64 px side by side with a 4 px gap
    assert (preview["aug/preview/height"], preview["aug/preview/width"]) == (4 * 64, 2 * 4 * 64 + 4)
    (image,) = preview["aug/preview/filenames"]
    assert (run_dir / "wandb" / "latest-run" / "files" / image).stat().st_size > 1000
    run_id = (run_dir / "wandb_id").read_text()

    proc = train(*args, "trainer.max_steps=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(run_id) for r in runs)  # one W&B run, continued
    _, resumed = logged(run_dir, runs[1])
    assert not any("aug/preview/height" in row for row in resumed)  # logged once, at the first start only
    assert [row["trainer/global_step"] for row in resumed if "train/loss" in row] == [2]


def _sample(parameters: dict, rng: random.Random) -> dict:
    """One draw of the sweep's parameters, as the sweep controller hands them to an agent."""
    values = {}
    for name, spec in parameters.items():
        if "values" in spec:
            values[name] = rng.choice(spec["values"])
        else:
            assert spec["distribution"] == "uniform"
            values[name] = rng.uniform(spec["min"], spec["max"])
    return {name: {"value": value} for name, value in values.items()}


def _agent_command(sweep: dict, args: dict) -> list[str]:
    """The command line wandb's agent runs for one trial (wandb_agent.Agent._command_run, non-Windows)."""
    macros = create_sweep_command_args({"args": args})
    macros.update(env=["/usr/bin/env"], interpreter=["python"], program=[sweep["program"]])
    command = []
    for part in create_sweep_command(sweep["command"]):
        command += macros[part[2:-1]] if part.startswith("${") and part.endswith("}") else [part]
    return command


def test_sweep_command_as_the_agent_expands_it_trains_with_the_sampled_values(tmp_path):
    sweep = yaml.safe_load(SWEEP.read_text())
    assert sweep["metric"] == {"name": "eval/linear_top1", "goal": "maximize"}
    assert set(sweep["parameters"]) == {
        "aug.strength",
        "aug.crop_area",
        "aug.blur_prob",
        "aug.temporal.distribution",
        "aug.num_clips",
    }
    assert sweep["parameters"]["aug.num_clips"]["values"] == [2, 3, 4]
    args = _sample(sweep["parameters"], random.Random(3))
    command = _agent_command(sweep, args)
    assert command[:4] == ["/usr/bin/env", "python", "train.py", "--config"]

    # The trial runs as the agent starts it, but on a tiny demo dataset, for 2 steps, without a server.
    data = tmp_path / "demo"
    generate(data, SyntheticSpec(train_per_class=2, val_per_class=1, num_frames=16, size=32), workers=1, progress=False)
    command[command.index("conf/pretrain.yaml")] = "conf/quickstart.yaml"
    command[command.index("logger.wandb.mode=online")] = "logger.wandb.mode=offline"
    command += [
        "data.generate=null",
        f"data.root={data}/train",
        f"val.root={data}/val",
        "data.num_frames=4",
        "data.crop_size=32",
        "data.batch_size=8",
        "probe.batch_size=8",
        "model.base_channels=8",
        "model.proj_hidden_dim=32",
        "probe.epochs=5",
        "probe.views=[1,1]",
        "trainer.max_steps=2",
        f"trainer.output_dir={tmp_path}",
    ]
    command[command.index("python")] = sys.executable  # the agent's `python` is the one on PATH; ours runs the trial
    env = {**os.environ, "WANDB_RUN_ID": "trial42"}  # set by the agent for each trial
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    run_dir = tmp_path / "sweep-trial42"
    cfg = OmegaConf.load(run_dir / "config.yaml")
    for name, arg in args.items():
        assert OmegaConf.select(cfg, name) == pytest.approx(arg["value"]), name
    assert (run_dir / "wandb_id").read_text() == "trial42"
    config, history = logged(run_dir)
    assert config["aug.strength"] == pytest.approx(args["aug.strength"]["value"])
    final = [row for row in history if sweep["metric"]["name"] in row]
    assert len(final) == 2 and 0 <= final[-1][sweep["metric"]["name"]] <= 100  # random init, then the end
