"""The charades layout on files in exactly Charades' distributed format: the classes, each subset's videos and
actions, a missing video reported, bad rows named by file and line, and each sample's multi-hot targets drawn from
the frames it decodes (a training clip: the actions it overlaps; a test view: its whole video's)."""

import numpy as np
import pytest

from cvrl_pl.data.index import load_or_build_index
from cvrl_pl.data.layouts.charades import charades_classes, is_charades_folder, parse_actions, read_subset
from cvrl_pl.data.loader import video_table
from cvrl_pl.data.multilabel import action_targets, is_multilabel
from cvrl_pl.errors import DatasetError
from dali_pipelines.params import ViewAugConfig
from dali_pipelines.sources import TestViewSource, TrainClipSource
from tests.helpers.charades import CLASSES, TRAIN, write_charades


@pytest.fixture(scope="module")
def charades(tmp_path_factory):
    return write_charades(tmp_path_factory.mktemp("charades"))


def _index(videos, annotations, subset):
    return load_or_build_index(videos, annotations=annotations, subset=subset, workers=1, progress=False)


def test_the_classes_and_the_actions_are_read_as_distributed(charades):
    videos, annotations = charades
    assert is_charades_folder(str(annotations)) and not is_charades_folder(str(videos))
    codes, names = charades_classes(str(annotations / "Charades_v1_classes.txt"))
    assert codes == ["c000", "c001", "c002", "c003"] and names == CLASSES
    ids = {c: i for i, c in enumerate(codes)}
    train = read_subset(str(annotations), "train", ids)
    assert list(train) == ["46GP8", "N11GT", "0IH69", "KRF68"]
    assert train["46GP8"] == ((1, 0.1, 0.9), (3, 0.5, 1.6))
    assert train["0IH69"] == ()  # no actions
    assert train["KRF68"] == ((2, 0.8, 2.4),)  # past its 1.4 s video's end: kept as written
    assert list(read_subset(str(annotations), "test", ids)) == ["YSKX3", "RXGAZ", "7UPGT"]


def test_the_layout_indexes_each_subset_and_reports_a_missing_video(charades, tmp_path):
    videos, annotations = charades
    train = _index(videos, annotations, "train")  # layout auto: recognised from the classes file
    assert train.layout == "charades" and is_multilabel(train) and train.classes == ["c000", "c001", "c002", "c003"]
    assert list(train.videos.paths) == sorted(f"{vid}.mp4" for vid, _, _ in TRAIN)
    assert train.videos.column("label").tolist() == [-1] * 4
    assert train.videos.column("num_frames").tolist() == [25, 40, 35, 30]  # 0IH69, 46GP8, KRF68, N11GT
    assert "classes without a usable video" not in train.report()  # no video has a single label to count
    test = _index(videos, annotations, "test")
    assert list(test.videos.paths) == ["7UPGT.mp4", "RXGAZ.mp4", "YSKX3.mp4"]

    moved = tmp_path / "videos"
    moved.mkdir()
    for name in ("46GP8", "N11GT", "0IH69"):  # KRF68.mp4 left out
        (moved / f"{name}.mp4").symlink_to(videos / f"{name}.mp4")
    partial = _index(moved, annotations, "train")
    assert len(partial.videos) == 3 and partial.excluded == [("KRF68.mp4", "missing")]


def test_each_indexed_video_gets_its_own_actions(charades):
    videos, annotations = charades
    index = _index(videos, annotations, "train")
    targets = action_targets(index, whole_video=False)
    assert targets.num_classes == 4 and list(targets.fps) == [25.0] * 4
    by_path = dict(zip(index.videos.paths, targets.actions, strict=True))
    assert by_path == {"0IH69.mp4": (), "46GP8.mp4": ((1, 0.1, 0.9), (3, 0.5, 1.6)), "KRF68.mp4": ((2, 0.8, 2.4),),
                       "N11GT.mp4": ((0, 0.0, 0.7),)}  # fmt: skip


@pytest.mark.parametrize("whole_video", [False, True])
def test_a_training_clip_takes_the_actions_its_frames_overlap(charades, whole_video):
    videos, annotations = charades
    index = _index(videos, annotations, "train")
    targets = action_targets(index, whole_video=whole_video)
    view = ViewAugConfig(crop_size=32, jitter_prob=0.0, grayscale_prob=0.0)
    source = TrainClipSource(video_table(index), view, targets=targets, num_frames=4, stride=2, batch_size=2)
    seen = set()
    for i in range(200):  # random starts: clips across each whole video
        out = source.in_order(source.sample(i % 4, np.random.default_rng(i)))
        vid, frames = int(out["video_id"]), out["frames"]
        actions = targets.actions[vid]
        span = (frames.min() / 25.0, (frames.max() + 1) / 25.0)  # frame k shows from k / 25 s to (k + 1) / 25 s
        expected = [c for c, a0, a1 in actions if a0 < span[1] and a1 > span[0]]
        if whole_video:
            expected = sorted({c for c, _, _ in actions})
        assert out["label"].dtype == np.float32 and np.flatnonzero(out["label"]).tolist() == expected
        seen.add((vid, tuple(expected)))
    if not whole_video:  # 46GP8's clips see c001 alone, both, and c003 alone; KRF68's past the action's start
        assert {(1, (1,)), (1, (1, 3)), (1, (3,)), (2, ()), (2, (2,))} <= seen


def test_a_test_view_takes_its_whole_videos_actions(charades):
    videos, annotations = charades
    index = _index(videos, annotations, "test")
    targets = action_targets(index, whole_video=False)
    source = TestViewSource(video_table(index), targets=targets, num_frames=4, stride=2, batch_size=2, num_temporal=3)
    labels = {}
    for i in range(len(source)):
        out = source.sample_at(0, i)
        labels.setdefault(index.videos.paths[int(out["video_id"])], set()).add(tuple(np.flatnonzero(out["label"])))
    assert labels == {
        "7UPGT.mp4": {()},
        "RXGAZ.mp4": {(3,)},
        "YSKX3.mp4": {(0, 2)},
    }  # YSKX3's c002 (0.2 to 0.6 s) in every view


def test_bad_rows_name_the_file_and_line(tmp_path):
    ids = {"c000": 0}
    with pytest.raises(DatasetError, match=r"x.csv, line 3: action 'c009 1.0 2.0': unknown class"):
        parse_actions("c000 0 1;c009 1.0 2.0", ids, where="x.csv, line 3")
    with pytest.raises(DatasetError, match="action 'c000 1.0' is not '<class> <start> <end>'"):
        parse_actions("c000 1.0", ids, where="x.csv, line 3")
    (tmp_path / "Charades_v1_train.csv").write_text('id,script,actions\nAB12,"two\nlines",c000 0 1\nAB12,,\n')
    with pytest.raises(DatasetError, match=r"Charades_v1_train.csv, line 4: video id AB12 is listed twice"):
        read_subset(str(tmp_path), "train", ids)
    (tmp_path / "Charades_v1_test.csv").write_text("id,length\nAB12,3.2\n")
    with pytest.raises(DatasetError, match=r"Charades_v1_test.csv: no column actions"):
        read_subset(str(tmp_path), "test", ids)
