"""Every reader of labels (the probes, linear evaluation, fine-tuning, retrieval) stops on a split without classes
with an error naming its key, the layout it resolved and its 0 classes, before a single feature is extracted: an
unlabelled split labels every video -1, which retrieval would count as a hit for every neighbour (R@1 = 100)."""

import pytest

from cvrl_pl import protocols
from cvrl_pl import train as entry
from cvrl_pl.callbacks import probes
from cvrl_pl.data.index import load_or_build_index
from tests.helpers.videos import write_video

SMALL = ["model.encoder=r3d18", "model.base_channels=8", "trainer.accelerator=cpu", "logger.wandb.mode=disabled"]


def _indexed(root):
    """``root``, indexed here with one worker: a run then probes nothing (its spawned probes cost seconds each)."""
    load_or_build_index(root, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """Four videos directly in their root: ``auto`` takes them for the unlabelled layout."""
    root = tmp_path_factory.mktemp("flat")
    for i in range(4):
        write_video(root / f"v{i}.webm", 12, width=40, height=32)
    return _indexed(root)


@pytest.fixture
def clips_with_readme(tmp_path):
    """Two class folders and a README.txt beside them."""
    for i in range(4):
        write_video(tmp_path / "data" / f"class{i % 2}" / f"v{i}.webm", 12, width=40, height=32)
    (tmp_path / "data" / "README.txt").write_text("two classes")
    return _indexed(tmp_path / "data")


@pytest.fixture
def no_features(monkeypatch):
    """Fail the test if an evaluation loader is built or a feature extracted."""

    def fail(*args, **kwargs):
        raise AssertionError("an evaluation loader was built before the labels were checked")

    for module, name in ((protocols, "eval_loader"), (probes, "eval_loader"), (probes, "extract_features")):
        monkeypatch.setattr(module, name, fail)


@pytest.mark.parametrize(
    "task,unlabelled",
    [("retrieval", "val"), ("linear_eval", "val"), ("finetune", "data"), ("pretrain", "val"), ("pretrain", "data")],
)
def test_an_unlabelled_split_stops_before_any_feature(
    class_videos, flat, no_features, tmp_path, capsys, task, unlabelled
):
    labelled = class_videos(4)
    roots = {"data": flat if unlabelled == "data" else labelled, "val": flat if unlabelled == "val" else labelled}
    run = [f"trainer.output_dir={tmp_path}", "trainer.run_name=r"]
    code = entry.main([*SMALL, f"task={task}", *(f"{k}.root={v}" for k, v in roots.items()), *run])

    error = capsys.readouterr().err
    assert code == 2, error[-3000:]
    assert f"error: {unlabelled}.root={flat} (layout unlabelled, from {unlabelled}.layout=auto; 0 classes)" in error
    assert not (tmp_path / "r" / "metrics.json").exists() and not (tmp_path / "r" / "checkpoints").exists()


def test_the_probes_name_their_own_bank_split(class_videos, flat, no_features, tmp_path, capsys):
    labelled = class_videos(4)
    run = [f"trainer.output_dir={tmp_path}", "trainer.run_name=p", f"data.root={labelled}", f"val.root={labelled}"]
    code = entry.main([*SMALL, *run, f"probe.train.root={flat}", "probe.train.layout=unlabelled"])

    error = capsys.readouterr().err
    assert code == 2, error[-3000:]
    assert f"error: probe.train.root={flat} (layout unlabelled; 0 classes)" in error
    assert "probe.train.layout" in error and "give a labelled split in" not in error
    assert not (tmp_path / "p" / "checkpoints").exists()


def test_train_py_shows_the_ignored_files_and_the_error(train, clips_with_readme, flat, tmp_path):
    """As a user sees it: retrieval against an unlabelled query split, from a gallery with a README.txt."""
    proc = train(
        *SMALL,
        "task=retrieval",
        f"data.root={clips_with_readme}",
        f"val.root={flat}",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=r",
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"{clips_with_readme}: ignored 1 file(s) at the root that are not videos: README.txt" in proc.stderr
    assert f"error: val.root={flat} (layout unlabelled, from val.layout=auto; 0 classes)" in proc.stderr
    assert "R@1" not in proc.stdout and not (tmp_path / "r" / "metrics.json").exists()
