"""SEVERE's few-shot draw: the pure draw and ``draw_few_shot`` on SEVERE's published UCF-101 and Gym99 train lists
(stored gzip-compressed in tests/data/severe_lists, byte for byte as SEVERE's repository holds them at 2f99365 in
action_recognition/data/ucf101/ucfTrainTestlist and action_recognition/data/gym/annotations), each clip an empty
file, as the draw only stats them. The expected draws were produced by running SEVERE's
``action_recognition/datasets/utils.py`` ``get_subset_data`` as it is at commit 2f99365 (numpy 2.4.6), outside
this repository, on the stored lists read as SEVERE's ``ucf.py`` and ``gym_99.py`` read them, num_of_examples=1000;
recorded here: the count, the per-class count, the first and last 5 names, and the sha256 of the names joined by
newlines in draw order."""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from cvrl_pl.data.few_shot import draw_few_shot, severe_subset

LISTS = Path(__file__).parent / "severe_lists"

GYM99_DRAW = {  # 99 classes of at least 47 clips: 11 = ceil(1000 / 99) from each
    "count": 1089,
    "first": [
        "l-ctNiOuCBc_E_002823_002830_A_0000_0007.avi",
        "s7pyZPf6fKU_E_002219_002231_A_0000_0012.avi",
        "TXpgPT5Jdiw_E_000753_000760_A_0000_0006.avi",
        "oShVYr-GRqw_E_003015_003022_A_0000_0007.avi",
        "SmM5COoXqDA_E_002011_002019_A_0000_0007.avi",
    ],
    "last": [
        "lrwiYiFGQZE_E_004478_004516_A_0034_0038.avi",
        "k8zhOvRBjGo_E_003010_003041_A_0028_0031.avi",
        "s7pyZPf6fKU_E_003239_003273_A_0031_0033.avi",
        "MVLZz2J6tcE_E_004467_004505_A_0036_0038.avi",
        "PgNRyuavbS4_E_009439_009488_A_0045_0048.avi",
    ],
    "sha256": "7395b788a74262835748f7ceab9bf947e224d3b4e3108e5aa6400891ccf951a8",
}
# The same list without its first drawn clip (label 0), as gym_99.py's isfile check leaves a missing clip out.
GYM99_DRAW_FIRST_MISSING = {
    "count": 1089,
    "first": [
        "mgtMKd072Pg_E_003017_003026_A_0000_0008.avi",
        "vY-jPM995Gk_E_003153_003160_A_0000_0007.avi",
        "SmM5COoXqDA_E_002011_002019_A_0000_0007.avi",
        "jR0OFsCYcD4_E_005578_005586_A_0000_0007.avi",
        "s7pyZPf6fKU_E_002198_002204_A_0000_0006.avi",
    ],
    "last": GYM99_DRAW["last"],
    "sha256": "8edfdacfd8c8aaebc392abad83bb8dfc4fbd40b8da0bc35c75478d8ba8eea629",
}
UCF101_DRAW = {  # trainlist01: 9,537 clips of 101 classes; 10 = ceil(1000 / 101) from each
    "count": 1010,
    "first": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c03.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g12_c06.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g22_c04.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g15_c03.avi",
    ],
    "last": [
        "YoYo/v_YoYo_g13_c02.avi",
        "YoYo/v_YoYo_g19_c05.avi",
        "YoYo/v_YoYo_g15_c02.avi",
        "YoYo/v_YoYo_g21_c04.avi",
        "YoYo/v_YoYo_g25_c02.avi",
    ],
    "sha256": "9c0db60953908a9f033c276f92a6635dcc468fff13b4f0c9d7534b54fcc6f784",
}


def _unpack(names: list[str], folder: Path) -> Path:
    """The stored lists ``names`` unpacked into ``folder``, as the layouts read them."""
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(gzip.decompress((LISTS / f"{name}.gz").read_bytes()))
    return folder


def _touch_listed(list_file: Path, root: Path) -> list[str]:
    """An empty file under ``root`` for every clip the list names; the names, in list order."""
    names = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    for folder in {n.rpartition("/")[0] for n in names}:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).touch()
    return names


def _facts(drawn: list[str]) -> dict:
    """What the tests record of a draw."""
    return {
        "count": len(drawn),
        "first": drawn[:5],
        "last": drawn[-5:],
        "sha256": hashlib.sha256("\n".join(drawn).encode()).hexdigest(),
    }


def test_severe_subset_takes_all_of_a_small_class_in_ascending_class_order():
    # SEVERE's get_subset_data on names c0..c9 with these labels and num_of_examples=9 drew
    # c4 c8 c1 | c2 c6 | c5 c7 c0: 3 per class, class 1's 2 clips permuted.
    labels = [2, 0, 1, 2, 0, 2, 1, 2, 0, 2]
    assert severe_subset(labels, 9).tolist() == [4, 8, 1, 2, 6, 5, 7, 0]
    assert severe_subset([], 9).tolist() == []
    with pytest.raises(ValueError, match="positive number of examples, got 0"):
        severe_subset(labels, 0)


def test_ucf101_trainlist01_draw_is_severes(tmp_path):
    lists = _unpack(["classInd.txt", "trainlist01.txt"], tmp_path / "ucfTrainTestlist")
    root = tmp_path / "UCF-101"
    assert len(_touch_listed(lists / "trainlist01.txt", root)) == 9537
    draw = draw_few_shot(str(root), str(lists), tmp_path / "ucf.txt", layout="ucf101", subset="train", split=1)
    assert (draw.listed, draw.missing, draw.classes, draw.per_class) == (9537, [], 101, 10)
    assert _facts(draw.drawn) == UCF101_DRAW
    assert set(Counter(p.split("/")[0] for p in draw.drawn).values()) == {10}
    assert (tmp_path / "ucf.txt").read_text() == "".join(f"{p}\n" for p in draw.drawn)


def test_gym99_train_draw_is_severes_and_a_missing_clip_changes_it(tmp_path):
    lists = _unpack(["gym99_train.txt"], tmp_path / "annotations")
    root = tmp_path / "videos"
    assert len(_touch_listed(lists / "gym99_train.txt", root)) == 20484
    out = tmp_path / "gym99.txt"
    draw = draw_few_shot(str(root), str(lists), out)  # auto: the folder of gym99_train.txt is gym99
    assert (draw.listed, draw.missing, draw.classes, draw.per_class, draw.warning()) == (20484, [], 99, 11, None)
    assert _facts(draw.drawn) == GYM99_DRAW
    labels = {line.split()[0]: line.split()[1] for line in (lists / "gym99_train.txt").read_text().splitlines()}
    assert set(Counter(labels[p] for p in draw.drawn).values()) == {11}

    first = draw.drawn[0]
    (root / first).unlink()
    (root / f"{first[:-4]}.mp4").touch()  # a copy of another extension counts as the clip: the draw is the same
    assert draw_few_shot(str(root), str(lists), out, layout="gym99").drawn[0] == f"{first[:-4]}.mp4"
    (root / f"{first[:-4]}.mp4").unlink()
    gone = draw_few_shot(str(root), str(lists), out, layout="gym99")
    assert gone.missing == [first] and "1 listed clips are missing" in gone.warning()
    assert _facts(gone.drawn) == GYM99_DRAW_FIRST_MISSING
    changed = {labels[a] for a, b in zip(draw.drawn, gone.drawn, strict=True) if a != b}
    assert sorted(changed) == ["0", "1", "2", "3", "4", "5"]  # its class and the next five; the stream realigns
    assert out.read_text().split() == gone.drawn
