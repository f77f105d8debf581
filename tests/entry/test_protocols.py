"""Linear evaluation and fine-tuning through train.py: frozen vs trained encoder, multi-view test, metrics.json."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from cvrl_pl.data.synthetic import SyntheticSpec, generate
from cvrl_pl.models import build_encoder
from tests.helpers.runs import EVAL_TINY

SMALL = [
    "model.encoder=r3d18",
    "model.base_channels=8",
    "data.batch_size=8",
    "data.num_workers=1",
    "eval.batch_size=8",
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "data.num_frames=4",
    "data.crop_size=32",
]
EVAL = [*EVAL_TINY, "eval.num_spatial=3"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, train):
    """A tiny labelled dataset and a checkpoint of a tiny CVRL pretraining on it."""
    root = tmp_path_factory.mktemp("protocols")
    generate(
        root / "demo",
        SyntheticSpec(train_per_class=4, val_per_class=2, num_frames=16, size=32),
        workers=1,
        progress=False,
    )
    proc = train(
        "--config",
        "conf/quickstart.yaml",
        *SMALL,
        "data.generate=null",
        f"data.root={root}/demo/train",
        "val.root=null",
        "trainer.max_steps=2",
        f"trainer.output_dir={root}",
        "trainer.run_name=pre",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, root / "pre" / "checkpoints" / "last.ckpt"


def _encoder(path):
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("encoder.") and v.is_floating_point()}


def _export(ckpt, out):
    return subprocess.run(
        [sys.executable, "-m", "cvrl_pl.tools.export", str(ckpt), "--out", str(out)], capture_output=True, text=True
    )


def test_exported_encoder_loads_without_lightning(pretrained, tmp_path):
    _, ckpt = pretrained
    proc = _export(ckpt, tmp_path / "encoder.pt")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "'name': 'r3d18'" in proc.stdout and "step 2" in proc.stdout
    blob = torch.load(tmp_path / "encoder.pt", map_location="cpu", weights_only=True)
    # The architecture recorded is what build_encoder needs, the padding convention included (issue 13).
    assert blob["arch"] == {
        "name": "r3d18",
        "width": 1,
        "base_channels": 8,
        "padding": "symmetric",
        "input_mean": [0.0, 0.0, 0.0],
        "input_std": [1.0, 1.0, 1.0],
    }
    assert blob["global_step"] == 2
    encoder = build_encoder(**blob["arch"])
    encoder.load_state_dict(blob["state_dict"])  # strict: every tensor present, nothing extra
    expected = {k.removeprefix("encoder."): v for k, v in _encoder(ckpt).items()}
    state = encoder.state_dict()
    assert all(torch.equal(state[k], v) for k, v in expected.items()) and len(expected) > 50
    clips = torch.rand(2, 3, 4, 32, 32)
    assert encoder.eval()(clips).shape == (2, encoder.feature_dim)

    assert _export(tmp_path / "missing.ckpt", tmp_path / "x.pt").returncode == 2


# task=attentive_probe runs end to end in the grid's test below.
@pytest.mark.parametrize("task,init", [("linear_eval", "exported"), ("finetune", "checkpoint")])
def test_protocol_trains_a_classifier_and_tests_every_view(train, pretrained, task, init, tmp_path):
    root, pretraining = pretrained
    ckpt = pretraining
    if init == "exported":
        assert _export(pretraining, tmp_path / "encoder.pt").returncode == 0
        ckpt = tmp_path / "encoder.pt"
    proc = train(
        "--config",
        f"conf/{task}.yaml",
        *SMALL,
        *EVAL,
        f"data.root={root}/demo/train",
        f"val.root={root}/demo/val",
        f"model.init={ckpt}",
        f"trainer.output_dir={root}",
        f"trainer.run_name={task}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((root / task / "metrics.json").read_text())
    assert metrics["task"] == task and metrics["init"] == str(ckpt)
    assert metrics["videos"] == 16 and metrics["views_per_video"] == 2.0  # 8 classes x 2 val videos, 2 clips each
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 100.0
    predictions = np.load(root / task / "predictions.npz")  # plain arrays: no pickle needed
    ids, scores, targets = predictions["ids"], predictions["scores"], predictions["targets"]
    val = root / "demo" / "val"
    assert sorted(ids.tolist()) == sorted(str(p.relative_to(val)) for p in val.rglob("*.webm"))  # every test video
    assert scores.shape == (16, 8) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # mean softmax of the views
    folders = sorted(p.name for p in val.iterdir() if p.is_dir() and not p.name.startswith("."))  # not the index
    labels = {name: i for i, name in enumerate(folders)}
    assert targets.tolist() == [labels[i.split("/")[0]] for i in ids]  # the class of each video's folder
    recomputed = 100.0 * float(np.mean(scores.argmax(axis=1) == targets))
    assert recomputed == pytest.approx(metrics["top1"], abs=1e-4)  # the metric, from the file alone
    hits = scores.argmax(axis=1) == targets
    per_class = 100.0 * np.mean([hits[targets == c].mean() for c in np.unique(targets)])
    assert metrics["mean_class_top1"] == pytest.approx(per_class, abs=1e-4) and metrics["classes_tested"] == 8
    assert metrics["selection"] == "last" and metrics["seed"] == 0

    before, after = _encoder(pretraining), _encoder(root / task / "checkpoints" / "last.ckpt")
    assert before.keys() == after.keys()
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    assert unchanged == (task != "finetune")  # frozen (BN statistics included) but in fine-tuning


def test_semi_supervised_fine_tuning_draws_one_subset_in_one_or_two_processes_and_reuses_a_list(
    train, pretrained, tmp_path
):
    root, ckpt = pretrained  # 8 classes of 4 training videos: 10% of 4 rounds to 0, so one video a class
    common = ["--config", "conf/semisup_k400_10pct.yaml", *SMALL, *EVAL, f"data.root={root}/demo/train"]
    common += [f"val.root={root}/demo/val", f"model.init={ckpt}", f"trainer.output_dir={tmp_path}"]
    common += ["trainer.trace_batches=true", "trainer.accelerator=cpu"]
    runs = {
        "one": ["trainer.run_name=one"],
        "two": ["trainer.run_name=two", "trainer.devices=2"],  # two processes: the same draw on each rank
        "given": ["trainer.run_name=given", f"data.label_subset={tmp_path / 'one' / 'label_subset.txt'}"],
    }
    for extra in runs.values():
        proc = train(*common, *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "label subset: 8 of 32 training videos, 8 of 8 classes, from data.label_" in proc.stderr + proc.stdout
    lists = {name: (tmp_path / name / "label_subset.txt").read_text().splitlines() for name in runs}
    assert lists["one"] == lists["two"] == lists["given"] and len(lists["one"]) == 8
    assert len({line.split("/")[0] for line in lists["one"]}) == 8  # one video of each class folder
    assert all((root / "demo" / "train" / line).is_file() for line in lists["one"])  # relative to data.root

    trace = [json.loads(line) for line in (tmp_path / "one" / "trace" / "rank0.jsonl").read_text().splitlines()]
    assert sorted({v for step in trace for v in step["video_ids"]}) == list(range(8))  # only the subset trained
    two = [json.loads(line) for r in (0, 1) for line in (tmp_path / "two" / "trace" / f"rank{r}.jsonl").open()]
    assert sorted({v for step in two for v in step["video_ids"]}) == list(range(8))
    for name in runs:  # the validation split stays whole, with every view
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        assert metrics["videos"] == 16 and metrics["views_per_video"] == 2.0


def test_encoder_of_another_architecture_is_a_config_error(train, pretrained, tmp_path):
    root, ckpt = pretrained
    assert _export(ckpt, tmp_path / "encoder.pt").returncode == 0
    args = ["--config", "conf/linear_eval.yaml", *SMALL, *EVAL, f"data.root={root}/demo/train"]
    proc = train(*args, f"val.root={root}/demo/val", f"model.init={tmp_path}/encoder.pt", "model.base_channels=16")
    assert proc.returncode == 2
    assert "model.init:" in proc.stderr and "encoder.pt" in proc.stderr and "set model.base_channels" in proc.stderr


def test_protocol_without_val_split_is_a_config_error(train, pretrained):
    root, _ = pretrained
    proc = train("--config", "conf/linear_eval.yaml", *SMALL, f"data.root={root}/demo/train", "val.root=null")
    assert proc.returncode == 2 and "needs val.root" in proc.stderr


def test_eval_seeds_run_each_seed_in_its_folder_and_summarise_their_mean_and_sample_std(train, pretrained, tmp_path):
    root, ckpt = pretrained
    args = ["--config", "conf/linear_eval.yaml", *SMALL, *EVAL, "trainer.max_epochs=1", "eval.seeds=[1,2]"]
    args += [f"data.root={root}/demo/train", f"val.root={root}/demo/val", f"model.init={ckpt}"]
    args += [f"trainer.output_dir={tmp_path}", "trainer.run_name=seeds"]
    proc = train(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "seeds"
    runs = {n: json.loads((out / f"seed{n}" / "metrics.json").read_text()) for n in (1, 2)}
    assert [runs[n]["seed"] for n in (1, 2)] == [1, 2]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["seeds"] == {str(n): m for n, m in runs.items()}
    for key in ("top1", "top5", "mean_class_top1"):
        values = [runs[1][key], runs[2][key]]
        assert summary["mean"][key] == pytest.approx(np.mean(values))
        assert summary["std"][key] == pytest.approx(np.std(values, ddof=1))
    assert (out / "report.md").read_text().splitlines()[2].startswith("| seed | top1 | top5 |")
    again = train(*args)  # both seeds finished: summarised again, nothing rerun
    assert again.returncode == 0 and not (out / "seed1" / "logs" / "version_1").exists()


def test_a_grid_of_attentive_heads_on_two_clips_a_view_is_chosen_on_held_out_training_videos_on_one_and_two_ranks(
    train, pretrained, tmp_path
):
    root, ckpt = pretrained  # 8 classes of 4 training videos: a quarter held out is one video of each class
    grid = ["eval.heads.lr=[1e-4,3e-2]", "eval.heads.weight_decay=[0.01]", "eval.heads.holdout=0.25"]
    args = ["--config", "conf/attentive_probe.yaml", *SMALL, *EVAL, *grid, "eval.segments=2"]
    args += ["eval.attentive.width=32", "eval.attentive.heads=4", "trainer.trace_batches=true"]
    args += [f"data.root={root}/demo/train", f"val.root={root}/demo/val", f"model.init={ckpt}"]
    args += [f"trainer.output_dir={tmp_path}", "trainer.run_name=grid", "trainer.accelerator=cpu"]
    proc = train(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "grid"
    one = json.loads((run / "metrics.json").read_text())
    held = (run / "holdout.txt").read_text().splitlines()
    train_paths = {str(p.relative_to(root / "demo" / "train")) for p in (root / "demo" / "train").rglob("*.webm")}
    assert len(held) == 8 and set(held) <= train_paths and len({h.split("/")[0] for h in held}) == 8
    predictions = np.load(run / "predictions.npz")
    tested = {(root / "demo" / "val" / i).resolve() for i in predictions["ids"].tolist()}
    chosen_on = {(root / "demo" / "train" / h).resolve() for h in held}
    assert all(p.is_file() for p in chosen_on) and chosen_on.isdisjoint(tested) and len(tested) == 16  # no test video
    trace = [json.loads(line) for line in (run / "trace" / "rank0.jsonl").read_text().splitlines()]
    # the heads trained on the 24 others (video ids of the training subset, sorted by path: the held-out ones gone)
    assert sorted({v for step in trace for v in step["video_ids"]}) == list(range(24))

    assert [(h["lr"], h["weight_decay"]) for h in one["heads"]] == [(1e-4, 0.01), (3e-2, 0.01)]
    held_top1 = [h["holdout"]["top1"] for h in one["heads"]]
    assert one["chosen_head"] == held_top1.index(max(held_top1))
    assert one["holdout"] == {"fraction": 0.25, "seed": 0, "list": "holdout.txt", "videos": 8, "chosen_by": "top1"}
    hits = predictions["scores"].argmax(axis=1) == predictions["targets"]
    assert one["top1"] == pytest.approx(100.0 * hits.mean(), abs=1e-4)  # the chosen head's test score, from the file
    assert one["protocol"]["segments"] == 2 and one["views_per_video"] == 2.0
    per_class = 100.0 * np.mean([hits[predictions["targets"] == c].mean() for c in range(8)])
    assert one["mean_class_top1"] == pytest.approx(per_class, abs=1e-4) and one["classes_tested"] == 8
    before, after = _encoder(ckpt), _encoder(run / "checkpoints" / "last.ckpt")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)  # frozen
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert {k.split(".")[1] for k in state if k.startswith("head.") and ".pooler.cross." in k} == {"0", "1"}  # 2 heads

    # The same run on two ranks (the trained heads resumed from last.ckpt): the same draw, scores and choice.
    proc = train(*args, "trainer.devices=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((run / "metrics.json").read_text())
    assert (run / "holdout.txt").read_text().splitlines() == held
    for key in ("top1", "top5", "mean_class_top1", "videos", "chosen_head", "holdout"):
        assert two[key] == pytest.approx(one[key], abs=1e-4), key
    for a, b in zip(one["heads"], two["heads"], strict=True):
        assert a["holdout"] == pytest.approx(b["holdout"], abs=1e-4)
    np.testing.assert_allclose(np.load(run / "predictions.npz")["scores"], predictions["scores"], atol=1e-5)
