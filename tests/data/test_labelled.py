"""The labelled splits of an evaluation: the same classes in both, or an error naming the keys and layouts."""

from __future__ import annotations

import pytest

from cvrl_pl.config import load_config
from cvrl_pl.data import labelled
from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.labelled import labelled_splits
from cvrl_pl.errors import DatasetError


def _cfg(tmp_path, train, val, *overrides):
    # The indexes go to tmp_path: the class_videos folders are shared.
    keys = [
        f"data.root={train}",
        f"data.index={tmp_path}/train.json",
        f"val.root={val}",
        f"val.index={tmp_path}/v.json",
    ]
    return load_config(None, [*keys, *overrides])


def test_splits_with_the_same_classes(class_videos, tmp_path):
    cfg = _cfg(tmp_path, class_videos(4), class_videos(6))
    train, val = labelled_splits(cfg.data, cfg.val, sections=("data", "val"), progress=False)
    assert train.classes == val.classes == ["class0", "class1"]


def test_different_classes_name_both_keys_and_layouts(class_videos, tmp_path):
    cfg = _cfg(tmp_path, class_videos(6, classes=3), class_videos(4))
    with pytest.raises(DatasetError) as raised:
        labelled_splits(cfg.data, cfg.val, sections=("probe.train", "val"), progress=False)
    assert str(raised.value) == (
        f"probe.train.root and val.root have different classes: probe.train.root={cfg.data.root} (layout folder, "
        f"from probe.train.layout=auto; 3 classes), val.root={cfg.val.root} (layout folder, from val.layout=auto; "
        "2 classes); only in probe.train: class2; only in val: -"
    )


def test_the_same_class_names_in_another_order_differ(monkeypatch):
    # A dataset's official list numbers its classes in its own order, a folder of it sorts them.
    order = {"data": ["b", "a"], "val": ["a", "b"]}
    monkeypatch.setattr(
        labelled, "split_index", lambda split, section, progress: VideoIndex(split["root"], order[section], [], [])
    )
    splits = [{"root": "/x", "layout": "ucf101"}, {"root": "/y", "layout": "folder"}]
    with pytest.raises(DatasetError, match="the same names in another order, so the same label means another class"):
        labelled.labelled_splits(*splits, sections=("data", "val"))
