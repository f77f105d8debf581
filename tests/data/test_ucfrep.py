"""UCFRep's annotations as SEVERE distributes them (tests/data/ucfrep/ucf526_annotations.zip, from SEVERE's
repository at 2f99365): every video read from the zip or a folder, checked against the zip's own per-class boundary
lists; .mat files written in the same format; the UCF-101 file each names; the counts command."""

import subprocess
import sys
import zipfile

import pytest
from scipy.io import savemat

from cvrl_pl.data.ucfrep import Repetitions, read_annotations
from cvrl_pl.errors import DatasetError
from tests.helpers import ROOT
from tests.helpers.ucfrep import write_mat

ZIP = ROOT / "tests" / "data" / "ucfrep" / "ucf526_annotations.zip"


def _boundary_lists() -> dict[str, list[int]]:
    """annotations/repetition_label/<Class>.txt: blocks of a video name, then its boundaries on one line."""
    lists = {}
    with zipfile.ZipFile(ZIP) as archive:
        for member in archive.namelist():
            if member.startswith("annotations/repetition_label/") and member.endswith(".txt"):
                lines = [line.strip() for line in archive.read(member).decode().splitlines() if line.strip()]
                lists.update({lines[i]: [int(x) for x in lines[i + 1].split()] for i in range(0, len(lines), 2)})
    return lists


def test_every_annotated_video_of_the_zip_with_its_boundaries_and_count():
    videos = read_annotations(ZIP)
    assert [sum(v.split == s for v in videos) for s in ("train", "val")] == [421, 105]
    assert len({v.class_name for v in videos}) == 23
    groups = {v.split: set() for v in videos}
    for v in videos:
        groups[v.split].add(int(v.name.split("_")[-2][1:]))
    assert groups == {"train": set(range(1, 21)), "val": set(range(21, 26))}  # not one of UCF-101's splits
    lists = _boundary_lists()
    names = {v.name for v in videos}
    unannotated = [name for name in lists if name not in names]
    assert len(unannotated) == 49 and all(lists[name] == [0] for name in unannotated)  # listed, with no cycle
    for v in videos:  # the .mat boundaries are the class lists' ones, and the counts follow
        assert v.bounds.tolist() == lists[v.name], v.name
        assert v.count == len(lists[v.name]) - 1 >= 2
        assert len(v.offset_next) == len(v.offset_pre) == v.duration
        assert v.duration == v.end_frame - v.start_frame + 1  # the covered span's frames, not the video's
        assert v.start_frame <= v.bounds[0] and v.bounds[-1] <= v.end_frame
    first = videos[0]
    assert (first.name, first.split, first.bounds.tolist()) == (
        "v_BabyCrawling_g01_c01",
        "train",
        first.bounds.tolist(),
    )
    bench = next(v for v in videos if v.name == "v_BenchPress_g01_c01")
    assert bench.bounds.tolist() == [1, 36, 122] and bench.count == 2
    assert sum(v.count for v in videos) == 3506 and max(v.count for v in videos) == 53


def test_mat_files_written_in_the_same_format_read_from_a_folder(tmp_path):
    write_mat(tmp_path / "annotations" / "val" / "v_JumpRope_g21_c01.mat", [1, 11, 21, 31], 40)
    write_mat(tmp_path / "annotations" / "train" / "v_HandStandPushups_g01_c02.mat", [3, 13, 23], 30)
    (tmp_path / "annotations" / "train" / "notes.txt").write_text("not an annotation")
    videos = read_annotations(tmp_path)
    assert [(v.name, v.split, v.count) for v in videos] == [
        ("v_HandStandPushups_g01_c02", "train", 2),
        ("v_JumpRope_g21_c01", "val", 3),
    ]
    jump = videos[1]
    assert isinstance(jump, Repetitions) and jump.duration == 40 and (jump.start_frame, jump.end_frame) == (1, 31)
    assert jump.offset_next[:21].tolist() == [9] * 21 and jump.offset_next[21:].tolist() == [-1] * 19
    assert read_annotations(tmp_path / "annotations")[0].bounds.tolist() == [3, 13, 23]


def test_a_missing_or_empty_source_and_a_broken_file_are_errors_naming_them(tmp_path):
    with pytest.raises(DatasetError, match="nowhere does not exist"):
        read_annotations(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no train/\\*.mat or val/\\*.mat under"):
        read_annotations(tmp_path)
    (tmp_path / "val").mkdir()
    savemat(tmp_path / "val" / "v_Biking_g21_c01.mat", {"other": 1})
    with pytest.raises(DatasetError, match="val/v_Biking_g21_c01.mat: not a UCFRep annotation"):
        read_annotations(tmp_path)


def test_the_counts_command_prints_a_line_per_video_without_videos():
    proc = subprocess.run(
        [sys.executable, "-m", "cvrl_pl.suites.severe", "ucfrep-counts", "--annotations", str(ZIP)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 526 and lines[0].split()[1] == "train" and lines[-1].split()[1] == "val"
    assert "v_BenchPress_g01_c01 train 2" in lines
    assert sum(int(line.split()[2]) for line in lines) == 3506
