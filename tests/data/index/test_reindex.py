"""A start with a saved index does no per-file work (data.reindex=auto): it lists the dataset again only when the
root's top-level entries, a folder holding videos or the list files changed; ``always`` and ``never`` force it
either way, and each start says which happened and how long it took."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.errors import DatasetKeyError
from dali_pipelines import storage
from tests.helpers.index import put
from tests.helpers.official import write_ucf101

FOLDERS, PER_FOLDER = ("a", "b", "c"), 8


@pytest.fixture
def dataset(clips, tmp_path):
    """24 videos in 3 class folders (copies of one clip: probing is not what these tests measure)."""
    root = tmp_path / "data"
    for folder in FOLDERS:
        for k in range(PER_FOLDER):
            put(clips, "vp9_5", root / folder / f"{k}.webm")
    return root


@pytest.fixture
def calls(monkeypatch) -> dict[str, list[str]]:
    """Every call that lists a folder or stats a path, by function: what a start must not do per file."""
    made: dict[str, list[str]] = {"walk": [], "scandir": [], "listdir": [], "stat": []}

    def counted(name, real):
        def call(path=".", *args, **kwargs):
            made[name].append(os.fspath(path))
            return real(path, *args, **kwargs)

        return call

    for name, owner in (("walk", os), ("scandir", os), ("listdir", os), ("stat", os)):
        monkeypatch.setattr(owner, name, counted(name, getattr(owner, name)))
    return made


def test_a_start_with_a_saved_index_stats_folders_never_files(dataset, probe_counter, calls):
    said: list[str] = []
    load_or_build_index(dataset, workers=1, progress=False, note=said.append)
    assert len(probe_counter) == 24 and "listed again (no saved index of these options" in said[0]
    for made in calls.values():
        made.clear()
    said.clear()
    index = load_or_build_index(dataset, workers=1, progress=False, note=said.append)
    assert len(index.videos) == 24 and len(probe_counter) == 24  # nothing probed
    assert said[0].startswith(f"video index: {dataset / '.cvrl_index'} reused without listing the dataset (")
    videos = {str(dataset / f / f"{k}.webm") for f in FOLDERS for k in range(PER_FOLDER)}
    # the root only: layout=auto looks at its entries, and its names are compared
    assert not calls["walk"] and not calls["listdir"] and calls["scandir"] == [str(dataset)] * 2
    assert not videos & set(calls["stat"])  # no video stat-ed
    assert {str(dataset / f) for f in FOLDERS} <= set(calls["stat"])  # each folder once
    assert len(calls["stat"]) < len(videos) / 2, calls["stat"]  # the index's own files, the root: a handful


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda root, clips: put(clips, "vp9_20", root / "b" / "new.webm"), "folder b changed"),
        (lambda root, clips: put(clips, "vp9_20", root / "d" / "new.webm"), "the entries at the top of"),
        (lambda root, clips: (root / "c" / "3.webm").unlink(), "folder c changed"),
    ],
)
def test_auto_lists_again_when_what_lists_the_dataset_changed(dataset, clips, probe_counter, change, why):
    load_or_build_index(dataset, workers=1, progress=False)
    change(dataset, clips)
    said: list[str] = []
    index = load_or_build_index(dataset, workers=1, progress=False, note=said.append)
    assert why in said[0] and "listed again" in said[0], said
    assert len(index.videos) in (23, 25)  # the added or removed video is in the new index
    said.clear()
    load_or_build_index(dataset, workers=1, progress=False, note=said.append)
    assert "reused without listing" in said[0]  # the new listing is what the next start compares


def test_never_and_always_force_it_either_way(dataset, clips, probe_counter):
    load_or_build_index(dataset, workers=1, progress=False)
    put(clips, "vp9_20", dataset / "a" / "new.webm")
    said: list[str] = []
    kept = load_or_build_index(dataset, workers=1, progress=False, reindex="never", note=said.append)
    assert len(kept.videos) == 24 and "reused without listing" in said[0]
    listed = load_or_build_index(dataset, workers=1, progress=False, reindex="always", note=said.append)
    assert len(listed.videos) == 25 and "listed again (reindex=always" in said[1]
    assert probe_counter.count("new.webm") == 1
    with pytest.raises(DatasetKeyError, match="reindex must be one of auto, always, never, got 'sometimes'"):
        load_or_build_index(dataset, workers=1, progress=False, reindex="sometimes")


def test_a_rewritten_list_file_lists_the_dataset_again(clips, tmp_path, probe_counter):
    root = tmp_path / "data"
    for k in range(3):
        put(clips, "vp9_5", root / f"{k}.webm")
    csv = tmp_path / "list.csv"
    csv.write_text("0.webm,x\n1.webm,y\n")
    assert len(load_or_build_index(root, csv=csv, workers=1, progress=False).videos) == 2
    csv.write_text("0.webm,x\n1.webm,y\n2.webm,y\n")
    said: list[str] = []
    index = load_or_build_index(root, csv=csv, workers=1, progress=False, note=said.append)
    assert len(index.videos) == 3 and "the dataset's list files changed" in said[0]


def test_the_index_command_follows_the_same_rule(dataset):
    def run(*extra: str) -> str:
        cmd = [sys.executable, "-m", "cvrl_pl.data.index", str(dataset), "--quiet", "--workers", "1", *extra]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "listed again (no saved index" in run()
    assert "reused without listing the dataset" in run()
    assert "listed again (reindex=always" in run("--reindex")
    assert storage.stat(str(dataset / ".cvrl_index")).is_file is False


def test_official_lists_start_from_the_index_and_see_a_changed_list(tmp_path, probe_counter):
    """UCF-101's split lists: the second start of each split reads its index alone; after a list file is edited,
    a start lists the dataset again (every split reads the one annotation folder), probing nothing new."""
    root, lists = write_ucf101(tmp_path / "ucf")
    for subset in ("train", "test"):
        load_or_build_index(root, annotations=lists, subset=subset, workers=1, progress=False)
    probed = len(probe_counter)
    said: list[str] = []
    for subset in ("train", "test"):
        load_or_build_index(root, annotations=lists, subset=subset, workers=1, progress=False, note=said.append)
    assert all("reused without listing" in line for line in said) and len(said) == 2
    testlist = lists / "testlist01.txt"
    testlist.write_bytes(b"".join(testlist.read_bytes().splitlines(keepends=True)[:-1]))  # one test video fewer
    said.clear()
    before = len(load_or_build_index(root, annotations=lists, subset="train", workers=1, progress=False).videos)
    index = load_or_build_index(root, annotations=lists, subset="test", workers=1, progress=False, note=said.append)
    assert "the dataset's list files changed" in said[0] and len(probe_counter) == probed  # listed, not probed
    assert before > 0 and len(index.videos) == 5  # of the 6 test videos of split 1
