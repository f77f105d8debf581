"""The held-out training videos that choose a grid's head (eval.heads): a seeded per-class fraction, every class
keeping a training video, the same draw for the same index and seed, listed in holdout.txt."""

import numpy as np

from cvrl_pl.data.holdout import HOLDOUT_FILE, draw_holdout, hold_out
from cvrl_pl.data.index import load_or_build_index
from tests.helpers.videos import write_class_videos


def test_each_class_holds_out_its_fraction_and_keeps_a_training_video():
    labels = np.repeat([0, 1, 2, 3], [10, 4, 2, 1])  # class 3 has a single video
    held = draw_holdout(labels, len(labels), 0.25, seed=7)
    counts = np.bincount(labels[held], minlength=4).tolist()
    assert counts == [3, 1, 1, 0]  # 2.5 rounds half up to 3; at least one; all but one; a class of one keeps it
    assert np.all(np.diff(held) > 0)  # ascending rows
    np.testing.assert_array_equal(held, draw_holdout(labels, len(labels), 0.25, seed=7))  # the same seed, the same
    others = {tuple(draw_holdout(labels, len(labels), 0.25, seed=s)) for s in range(8)}
    assert len(others) > 1  # another seed, another draw
    # a class's draw depends on no other class: class 0 draws the same without classes 1 to 3
    alone = draw_holdout(labels[:10], 10, 0.25, seed=7)
    np.testing.assert_array_equal(alone, held[labels[held] == 0])


def test_multi_hot_targets_hold_out_a_fraction_of_all_videos():
    held = draw_holdout(None, 40, 0.1, seed=0)
    assert len(held) == 4 and len(set(held.tolist())) == 4 and held.max() < 40


def test_hold_out_splits_an_index_in_two_and_lists_the_held_out_videos(tmp_path):
    index = load_or_build_index(write_class_videos(tmp_path / "train", 12, classes=3), workers=1, progress=False)
    kept, held = hold_out(index, 0.25, 3, tmp_path, write=True)
    paths, kept_paths, held_paths = (set(i.videos.paths) for i in (index, kept, held))
    assert len(held_paths) == 3 and len(kept_paths) == 9  # one video of each of 3 classes of 4
    assert kept_paths.isdisjoint(held_paths) and kept_paths | held_paths == paths
    assert sorted((tmp_path / HOLDOUT_FILE).read_text().splitlines()) == sorted(held_paths)
    assert {p.split("/")[0] for p in held_paths} == {p.split("/")[0] for p in paths}  # every class
    assert kept.classes == index.classes == held.classes
