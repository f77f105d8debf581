"""The semi-supervised protocol's label subset: the class-balanced draw, its list file, and the index restricted
to it."""

import numpy as np
import pytest

from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.label_subset import (
    SUBSET_FILE,
    draw_label_subset,
    read_label_subset,
    training_subset,
    write_label_subset,
)
from cvrl_pl.errors import DatasetError
from tests.helpers.videos import write_class_videos


def test_each_class_keeps_its_fraction_rounded_half_up_and_at_least_one_video():
    sizes = [3, 10, 100, 250, 50]  # 1%: 0.03 -> 1, 0.1 -> 1, 1, 2.5 -> 3, 0.5 -> 1
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rows = draw_label_subset(labels, 0.01, seed=0)
    assert np.bincount(labels[rows]).tolist() == [1, 1, 1, 3, 1]
    assert np.bincount(labels[draw_label_subset(labels, 0.1, seed=0)]).tolist() == [1, 1, 10, 25, 5]
    assert (np.diff(rows) > 0).all()  # ascending, no repeats
    assert draw_label_subset(labels, 1.0, seed=3).tolist() == list(range(len(labels)))


def test_the_draw_depends_on_the_seed_and_each_class_on_nothing_else():
    labels = np.repeat(np.arange(4), 100)
    first = draw_label_subset(labels, 0.1, seed=0)
    assert first.tolist() == draw_label_subset(labels, 0.1, seed=0).tolist()  # same seed, same videos
    assert first.tolist() != draw_label_subset(labels, 0.1, seed=1).tolist()
    # A class's videos do not move when another class is added after it (say, a class folder is added).
    more = np.concatenate([labels, np.full(30, 4)])
    assert draw_label_subset(more, 0.1, seed=0)[: len(first)].tolist() == first.tolist()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = write_class_videos(tmp_path_factory.mktemp("subset") / "train", 12, classes=3)
    return load_or_build_index(root, workers=1, progress=False)


def test_the_list_file_round_trips_and_the_index_keeps_only_its_videos(index, tmp_path):
    rows = np.array([1, 4, 8])
    write_label_subset(tmp_path / "list.txt", index, rows)
    lines = (tmp_path / "list.txt").read_text().splitlines()
    assert lines == [index.videos.paths[r] for r in rows] and lines[0].startswith("class")  # relative to the root
    assert read_label_subset(tmp_path / "list.txt", index).tolist() == rows.tolist()

    taken = index.videos.take(rows)
    assert len(taken) == 3 and list(taken.paths) == lines
    assert list(taken) == [index.videos[int(r)] for r in rows]  # every field, keyframes included
    assert len(taken[2].keyframes) >= 1


def test_a_list_naming_videos_the_split_lacks_is_an_error_naming_them(index, tmp_path):
    (tmp_path / "list.txt").write_text(f"{index.videos.paths[0]}\n\nclass9/nope.webm\n")
    with pytest.raises(DatasetError, match=r"list.txt: 1 of 2 listed videos are not usable videos of .*class9/nope"):
        read_label_subset(tmp_path / "list.txt", index)


def test_a_resumed_run_keeps_the_subset_it_started_with(index, tmp_path):
    data = {"label_fraction": 0.34, "label_seed": 0, "label_subset": None}  # 4 videos a class: 1.36 -> 1
    first = training_subset(data, index, tmp_path, resuming=False, write=True)
    assert len(first.videos) == 3 and len((tmp_path / SUBSET_FILE).read_text().splitlines()) == 3
    other_seed = training_subset({**data, "label_seed": 5}, index, tmp_path, resuming=True, write=False)
    assert list(other_seed.videos.paths) == list(first.videos.paths)  # the run's own list, not a new draw
    whole = training_subset({**data, "label_fraction": 1.0}, index, tmp_path / "x", resuming=False, write=True)
    assert whole is index and not (tmp_path / "x").exists()
