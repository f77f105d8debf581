"""The ucf101, hmdb51, ssv2, gym99 and FineGym-set layouts on generated datasets in the official formats: every
split and subset, the datasets' quirks, transcoded copies, the index CLI, the few-shot CLI's file read back, and
every bad input named by file and line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from cvrl_pl.data import few_shot
from cvrl_pl.data.index import DatasetError, VideoIndex, build_index, load_or_build_index
from cvrl_pl.data.label_subset import read_label_subset
from cvrl_pl.data.prepare import prepare_dataset
from cvrl_pl.errors import DatasetKeyError
from tests.helpers.index import by_path
from tests.helpers.official import (
    GYM_LABELS,
    HMDB_CLASSES,
    SSV2_TEMPLATES,
    UCF_CLASSES,
    distinct_video,
    gym_clip,
    write_gym99,
    write_hmdb51,
    write_ssv2,
    write_ucf101,
)
from tests.helpers.ucfrep import write_mat


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return write_ucf101(tmp_path_factory.mktemp("ucf"))


@pytest.fixture(scope="module")
def hmdb(tmp_path_factory):
    return write_hmdb51(tmp_path_factory.mktemp("hmdb"))


@pytest.fixture(scope="module")
def ssv2(tmp_path_factory):
    return write_ssv2(tmp_path_factory.mktemp("ssv2"))


@pytest.fixture(scope="module")
def gym(tmp_path_factory):
    return write_gym99(tmp_path_factory.mktemp("gym"))


def _index(root, lists, subset, split=1, layout="auto", **kwargs):
    return build_index(root, annotations=lists, split=split, subset=subset, layout=layout, workers=1, progress=False)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_splits_hold_out_one_group_each(ucf, split):
    root, lists = ucf
    train, test = (_index(root, lists, subset, split) for subset in ("train", "test"))
    assert train.layout == test.layout == "ucf101"
    assert train.classes == test.classes == [folder for folder, _ in UCF_CLASSES]  # classInd order
    assert (len(train.videos), len(test.videos), train.excluded, test.excluded) == (12, 6, [], [])
    assert {v.path.split("_g")[1][:2] for v in test.videos} == {f"{split:02d}"}
    assert f"{split:02d}" not in {v.path.split("_g")[1][:2] for v in train.videos}
    assert {v.codec for v in train.videos} == {"mpeg4"} and all(v.num_frames == 24 for v in test.videos)
    # The label is the class folder's number in classInd, whatever the file name says.
    handstand = by_path(test)[f"HandstandPushups/v_HandStandPushups_g{split:02d}_c01.avi"]
    assert handstand.label == 1 and test.classes[1] == "HandstandPushups"
    assert (test.annotations, test.split, test.subset) == (str(lists), split, "test")


def test_hmdb51_tags_pick_train_and_test_and_skip_unused(hmdb):
    root, lists = hmdb
    for split in (1, 2, 3):
        train, test = (_index(root, lists, subset, split) for subset in ("train", "test"))
        assert train.layout == "hmdb51" and train.classes == test.classes == sorted(HMDB_CLASSES)
        test_ids = {int(v.path.rsplit("_", 1)[1][:-4]) for v in test.videos}
        train_ids = {int(v.path.rsplit("_", 1)[1][:-4]) for v in train.videos}
        assert test_ids == {i for i in range(5) if i % 3 == split - 1}
        assert train_ids == {i for i in range(5) if i % 3 != split - 1}  # video 5 is tagged 0 in every split
        assert len(test.videos) == 3 * len(test_ids) and len(train.videos) == 3 * len(train_ids)
        assert all(v.path.startswith(test.classes[v.label] + "/") for v in [*test.videos, *train.videos])


def test_ssv2_labels_come_from_templates_without_brackets(ssv2):
    root, lists = ssv2
    train, val = (_index(root, lists, subset) for subset in ("train", "validation"))
    assert train.layout == val.layout == "ssv2" and train.classes == SSV2_TEMPLATES
    assert [(v.path, v.label) for v in val.videos] == [("78689.webm", 0), ("78699.webm", 1), ("78709.webm", 2)]
    assert len(train.videos) == 6 and {v.label for v in train.videos} == {0, 1, 2}


def test_numeric_ssv2_ids_and_a_labels_file_in_another_order(ssv2, tmp_path):
    root, lists = ssv2
    mine = tmp_path / "labels"
    mine.mkdir()
    labels = json.loads((lists / "something-something-v2-labels.json").read_text())
    (mine / "something-something-v2-labels.json").write_text(json.dumps(dict(reversed(list(labels.items())))))
    entries = json.loads((lists / "something-something-v2-validation.json").read_text())
    (mine / "something-something-v2-validation.json").write_text(
        json.dumps([{**e, "id": int(e["id"])} for e in entries])
    )
    val = _index(root, mine, "validation", layout="ssv2")
    assert val.classes == SSV2_TEMPLATES and [v.label for v in val.videos] == [0, 1, 2]


def test_ssv2_videos_converted_to_avi_are_found_beside_webm(ssv2, tmp_path):
    root, lists = ssv2
    mine = tmp_path / "something-something-v2-videos_avi"
    for n, video_id in enumerate(("78689", "78699")):
        distinct_video(mine / f"{video_id}.avi", 400 + n)  # MPEG-4 part 2 in AVI, as SEVERE converts SSv2
    os.link(root / "78709.webm", mine / "78709.webm")
    val = _index(mine, lists, "validation")
    assert [(v.path, v.label) for v in val.videos] == [("78689.avi", 0), ("78699.avi", 1), ("78709.webm", 2)]
    assert val.excluded == []


def _gym_label(path):
    return int(path[3:6])  # gym_clip names a clip after its Gym99 label


def test_gym99_and_severes_finegym_sets_filter_and_relabel_the_lists(gym):
    root, lists = gym
    train, val = (_index(root, lists, subset) for subset in ("train", "val"))
    assert train.layout == val.layout == "gym99" and train.classes == [f"{n:03d}" for n in range(99)]
    listed = sorted(gym_clip(label, i)[:-4] for label in GYM_LABELS for i in (0, 1))
    assert sorted(os.path.splitext(v.path)[0] for v in train.videos) == listed  # .avi and .mp4 both found
    assert {os.path.splitext(v.path)[1] for v in [*train.videos, *val.videos]} == {".avi", ".mp4", ".webm"}
    assert all(v.label == _gym_label(v.path) for v in [*train.videos, *val.videos]) and len(val.videos) == 6
    assert train.excluded == [(gym_clip(6, 3), "missing")] and val.excluded == []

    fx = _index(root, lists, "train", layout="finegym_fx_s1")
    assert fx.classes == [f"{n:03d}" for n in range(6, 17)] and fx.excluded == [(gym_clip(6, 3), "missing")]
    assert sorted((_gym_label(v.path), v.label) for v in fx.videos) == [(6, 0), (6, 0), (16, 10), (16, 10)]
    ub = _index(root, lists, "val", layout="finegym_ub_s1")
    assert ub.classes == [f"{n:03d}" for n in range(74, 89)] and ub.excluded == []
    assert sorted((_gym_label(v.path), v.label) for v in ub.videos) == [(74, 0), (88, 14)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x.avi", r"line 14: expected '<clip>.avi <label 0-98>', got 'x.avi'"),
        ("x.avi 99", r"line 14: expected '<clip>.avi <label 0-98>', got 'x.avi 99'"),
        ("x.avi six", r"line 14: expected '<clip>.avi <label 0-98>', got 'x.avi six'"),
        ("../x.avi 6", r"line 14: path '../x.avi' is not relative"),
    ],
)
def test_gym99_bad_lines_name_the_file_and_line(gym, tmp_path, text, message):
    root, lists = gym
    mine = _copy_lists(lists, tmp_path)
    (mine / "gym99_train.txt").write_text((mine / "gym99_train.txt").read_text() + text + "\n")
    with pytest.raises(DatasetError, match=r"gym99_train.txt, " + message):
        _index(root, mine, "train", layout="finegym_fx_s1")


def test_few_shot_cli_warns_of_missing_clips_and_its_file_reads_back(gym, tmp_path, capsys):
    root, lists = gym
    out = tmp_path / "fx_s1_few_shot.txt"
    argv = ["--layout", "finegym_fx_s1", "--root", str(root), "--annotations", str(lists), "--examples", "3"]
    assert few_shot.main([*argv, "--out", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert "list: 5 clips, 4 found, 1 missing\ndrawn: 4 clips, up to 2 from each of 2 classes" in stdout
    assert f"warning: 1 listed clips are missing ({gym_clip(6, 3)}): missing clips change which clips" in stderr
    index = _index(root, lists, "train", layout="finegym_fx_s1")
    rows = read_label_subset(out, index)
    assert sorted(index.videos.paths[int(r)] for r in rows) == sorted(out.read_text().split())
    assert len(rows) == 4
    assert few_shot.main([*argv, "--subset", "test", "--out", str(out)]) == 2
    assert "error: --subset must be train or val for layout 'finegym_fx_s1'" in capsys.readouterr().err


def test_transcoded_copy_is_found_under_the_listed_names(ucf, tmp_path):
    root, lists = ucf
    copy = tmp_path / "UCF-101-vp9"
    prepare_dataset(root, copy, short_side=32, codec="vp9", workers=1, progress=False)
    test = _index(copy, lists, "test", 2)
    assert test.excluded == [] and len(test.videos) == 6
    assert {v.codec for v in test.videos} == {"vp9"} and all(v.path.endswith(".webm") for v in test.videos)
    assert [v.label for v in test.videos] == [0, 0, 1, 1, 2, 2]


def test_missing_videos_are_reported_one_line_each(ucf, tmp_path):
    root, lists = ucf
    partial = tmp_path / "UCF-101"
    for v in _index(root, lists, "test").videos[2:]:
        os.makedirs(partial / os.path.dirname(v.path), exist_ok=True)
        os.link(root / v.path, partial / v.path)
    test = _index(partial, lists, "test")
    assert len(test.videos) == 4
    assert test.excluded == [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "missing"),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c02.avi", "missing"),
    ]
    assert "classes without a usable video: 1 (ApplyEyeMakeup)" in test.report()  # reported, never dropped
    assert test.classes == [folder for folder, _ in UCF_CLASSES]


def _copy_lists(lists, tmp_path):
    mine = tmp_path / lists.name
    mine.mkdir()
    for f in lists.iterdir():
        (mine / f.name).write_bytes(f.read_bytes())
    return mine


UCF_BAD_LISTS = {
    "class not in classInd": (
        "testlist01.txt",
        lambda t: t + "Juggling/v_Juggling_g01_c01.avi\r\n",
        r"testlist01.txt, line 7: class folder 'Juggling' .* not in .*classInd.txt",
    ),
    "wrong class number": (
        "trainlist01.txt",
        lambda t: t.replace(".avi 2\r", ".avi 3\r", 1),
        r"trainlist01.txt, line 5: class number 3 of HandstandPushups/.*numbers 'HandstandPushups' 2",
    ),
    "extra field": (
        "trainlist01.txt",
        lambda t: t.replace(".avi 1\r", ".avi 1 extra\r", 1),
        r"trainlist01.txt, line 1: expected",
    ),
    "gap in class numbers": (
        "classInd.txt",
        lambda t: t.replace("2 Handstand", "4 Handstand"),
        r"classInd.txt: class numbers must run from 1",
    ),
    "malformed classInd": (
        "classInd.txt",
        lambda t: t + "oops\r\n",
        r"classInd.txt, line 4: expected '<number> <class>'",
    ),
    "path outside root": (
        "testlist01.txt",
        lambda t: t + "../x.avi\r\n",
        r"testlist01.txt, line 7: path '../x.avi' is not relative",
    ),
}


@pytest.mark.parametrize(("file", "edit", "message"), UCF_BAD_LISTS.values(), ids=UCF_BAD_LISTS.keys())
def test_ucf101_bad_lists_name_the_file_and_line(ucf, tmp_path, file, edit, message):
    root, lists = ucf
    mine = _copy_lists(lists, tmp_path)
    (mine / file).write_bytes(edit((mine / file).read_bytes().decode()).encode())
    subset = "test" if file.startswith("test") else "train"
    with pytest.raises(DatasetError, match=message):
        _index(root, mine, subset)


def test_hmdb51_and_ssv2_bad_files_name_the_file_and_line(hmdb, ssv2, tmp_path):
    root, lists = hmdb
    mine = _copy_lists(lists, tmp_path)
    (mine / "cartwheel_test_split2.txt").unlink()
    with pytest.raises(DatasetError, match=r"split 2 lacks the file of 1 classes: \['cartwheel_test_split2.txt'\]"):
        _index(root, mine, "train", 2)
    (mine / "wave_test_split1.txt").write_text("a.avi 1\nb.avi 7\n")
    with pytest.raises(DatasetError, match=r"wave_test_split1.txt, line 2: expected '<video>.avi <0\|1\|2>'"):
        _index(root, mine, "train", 1)

    root, lists = ssv2
    mine = _copy_lists(lists, tmp_path)
    val = mine / "something-something-v2-validation.json"
    entries = json.loads(val.read_text())
    entries[1]["template"] = "Folding [something]"
    val.write_text(json.dumps(entries, indent=1))
    line = [n for n, text in enumerate(val.read_text().splitlines(), 1) if text == " {"][1]  # the second entry's
    with pytest.raises(DatasetError, match=rf"validation.json, line {line}: template 'Folding something' of video"):
        _index(root, mine, "validation")
    val.write_text('[{"id": "1", "template": "x"}\n  {"id": "2"}]')
    with pytest.raises(DatasetError, match=r"validation.json, line 2: not valid JSON"):
        _index(root, mine, "validation")
    (mine / "something-something-v2-labels.json").write_text('{"a": "0", "b": "2"}')
    with pytest.raises(DatasetError, match=r"labels.json: class ids must be the numbers 0 to 1"):
        _index(root, mine, "train")


@pytest.mark.parametrize(
    ("layout", "kwargs", "key", "message"),
    [
        ("ucf101", {"split": 4, "subset": "train"}, "split", "split=4: layout 'ucf101' has split(s) 1, 2, 3"),
        ("ssv2", {"split": 2, "subset": "train"}, "split", "split=2: layout 'ssv2' has split(s) 1"),
        ("ucf101", {"subset": "validation"}, "subset", "subset must be train or test for layout 'ucf101'"),
        ("ssv2", {"subset": "test"}, "subset", "subset must be train or validation for layout 'ssv2'"),
        ("ucf101", {}, "subset", "subset must be train or test for layout 'ucf101', got None"),
        ("folder", {"subset": "train"}, "subset", "subset is read by the ucf101, hmdb51, ssv2, charades, gym99, "),
    ],
)
def test_settings_that_do_not_fit_the_layout_name_the_setting(ucf, layout, kwargs, key, message):
    root, lists = ucf
    with pytest.raises(DatasetKeyError, match=re.escape(message)) as raised:
        build_index(root, annotations=None if layout == "folder" else lists, layout=layout, progress=False, **kwargs)
    assert raised.value.key == key
    assert str(raised.value.named(f"val.{key}")) == str(raised.value).replace(key, f"val.{key}", 1)


def test_annotations_without_the_layout_are_recognised_or_named(ucf, hmdb, tmp_path):
    root, lists = ucf
    assert _index(root, lists / "classInd.txt", "test").layout == "ucf101"  # a file of the folder will do
    with pytest.raises(DatasetKeyError, match="holds the official lists of none of ucf101, hmdb51, ssv2"):
        _index(root, tmp_path, "test")
    with pytest.raises(DatasetError, match="annotation folder not found: .*nowhere"):
        _index(root, tmp_path / "nowhere", "test")
    with pytest.raises(DatasetKeyError, match="layout 'ucf101' reads the official lists: set annotations"):
        build_index(root, layout="ucf101", subset="test", progress=False)


def test_each_split_has_its_own_index_file_and_probes_each_video_once(ucf, tmp_path, probe_counter):
    root, lists = ucf
    data = tmp_path / "UCF-101"
    for v in [*_index(root, lists, "train").videos, *_index(root, lists, "test").videos]:
        os.makedirs(data / os.path.dirname(v.path), exist_ok=True)
        os.link(root / v.path, data / v.path)
    probe_counter.clear()
    for split in (1, 2, 3):
        for subset in ("train", "test"):
            load_or_build_index(data, annotations=lists, split=split, subset=subset, workers=1, progress=False)
    assert sorted(probe_counter) == sorted(os.path.basename(p) for p in map(str, data.rglob("*.avi")))  # once each
    names = sorted(p.name for p in data.glob(".cvrl_index*"))
    assert names == [f".cvrl_index.ucf101-split{n}-{s}" for n in (1, 2, 3) for s in ("test", "train")]
    assert VideoIndex.load(data / ".cvrl_index.ucf101-split3-test").subset == "test"


def test_index_cli_reads_the_official_lists(hmdb, tmp_path):
    root, lists = hmdb
    out = tmp_path / "hmdb_test2.json"
    args = [sys.executable, "-m", "cvrl_pl.data.index", str(root), "--layout", "hmdb51", "--annotations", str(lists)]
    proc = subprocess.run(
        [*args, "--split", "2", "--subset", "test", "--out", str(out), "--quiet"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "layout hmdb51" in proc.stdout and "split 2 test, 3 classes): 6 usable videos" in proc.stdout
    assert VideoIndex.load(out).split == 2
    proc = subprocess.run([*args, "--split", "5", "--subset", "test"], capture_output=True, text=True)
    assert proc.returncode == 2 and "error: --split=5: layout 'hmdb51' has split(s) 1, 2, 3" in proc.stderr


def test_ucfrep_lists_the_annotated_ucf101_videos_in_any_case_and_reports_the_missing(ucf, tmp_path):
    root, _ = ucf
    notes = tmp_path / "ucfrep"
    write_mat(notes / "val" / "v_HandStandPushups_g01_c01.mat", [1, 11, 21], 21)  # in UCF-101's HandstandPushups/
    write_mat(notes / "val" / "v_JumpRope_g21_c01.mat", [1, 11, 21, 31], 31)  # no such class folder: missing
    write_mat(notes / "train" / "v_YoYo_g02_c02.mat", [5, 15, 25], 21)
    val = _index(root, notes, "val", layout="ucfrep")
    train = _index(root, notes, "train", layout="ucfrep")
    assert val.layout == train.layout == "ucfrep"
    assert val.classes == train.classes == ["HandStandPushups", "JumpRope", "YoYo"]  # as the annotations spell them
    assert [(v.path, v.label) for v in val.videos] == [("HandstandPushups/v_HandStandPushups_g01_c01.avi", 0)]
    assert val.excluded == [("JumpRope/v_JumpRope_g21_c01.avi", "missing")]
    assert [(v.path, v.label) for v in train.videos] == [("YoYo/v_YoYo_g02_c02.avi", 2)] and train.excluded == []
    with pytest.raises(DatasetKeyError, match="layout 'ucfrep' reads the official lists: set annotations"):
        _index(root, None, "val", layout="ucfrep")
