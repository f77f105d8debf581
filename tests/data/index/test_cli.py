"""``python -m cvrl_pl.data.index``: writes the index and prints the report; errors exit with code 2."""

from __future__ import annotations

import subprocess
import sys

from cvrl_pl.data.index import VideoIndex
from cvrl_pl.data.index.__main__ import main as index_main
from cvrl_pl.data.index.video_index import REPORT_EXCLUDED
from tests.helpers.damage import damage_payload
from tests.helpers.index import put


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cvrl_pl.data.index", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_writes_index_and_report(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "1.webm")
    put(clips, "h264_12", root / "b" / "2.mp4")
    (root / "b" / "3.mp4").write_bytes(b"")
    out = tmp_path / "idx" / "train.json"

    done = run_cli(str(root), "--out", str(out), "--workers", "2", "--min-frames", "2")

    assert done.returncode == 0, done.stderr
    assert "2 usable videos, 1 excluded" in done.stdout
    assert "codecs: h264 1, vp9 1" in done.stdout
    assert "frames: 12 to 37" in done.stdout
    assert "  b/3.mp4: empty file" in done.stdout
    index = VideoIndex.load(out)
    assert (index.classes, [v.num_frames for v in index.videos], index.min_frames) == (["a", "b"], [37, 12], 2)


def test_cli_error_exit_code(tmp_path):
    done = run_cli(str(tmp_path / "nowhere"), "--out", str(tmp_path / "index"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: dataset root not found: {tmp_path / 'nowhere'}"
    assert not (tmp_path / "index").exists()


def test_cli_verify_full_excludes_damage_anywhere(clips, tmp_path):
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "good.webm")
    damage_payload(clips["vp9_40"], root / "a" / "damaged.webm", from_frame=30)
    done = run_cli(str(root), "--verify", "full", "--workers", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "1 usable videos, 1 excluded" in done.stdout
    assert "  a/damaged.webm: corrupt: cannot decode frame 30: Invalid data found when processing input" in done.stdout
    assert VideoIndex.load(root / ".cvrl_index").verify == "full"


def test_the_report_names_fifty_excluded_files_a_reason_and_the_command_lists_them_all(clips, tmp_path, capsys):
    """A shard set of Panda-70M's size has millions of failed samples: the report at every start counts them all
    and names the first REPORT_EXCLUDED of each reason; ``--excluded`` prints every one."""
    root = tmp_path / "data"
    put(clips, "vp9_37", root / "a" / "1.webm")
    for i in range(REPORT_EXCLUDED + 7):
        (root / "a" / f"note_{i:03d}.txt").write_text("x")
    (root / "a" / "2.mp4").write_bytes(b"")
    args = [str(root), "--out", str(tmp_path / "idx"), "--workers", "1", "--quiet"]
    assert index_main(args) == 0
    report = capsys.readouterr().out
    assert f"excluded (not a video {REPORT_EXCLUDED + 7}, empty file 1):" in report
    assert report.count(": not a video") == REPORT_EXCLUDED and "a/note_049.txt: not a video" in report
    assert (
        "a/note_050.txt" not in report
        and "  ... and 7 more not a video (all: the index command's --excluded)" in report
    )
    assert "  a/2.mp4: empty file" in report
    assert index_main([*args, "--excluded"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[: REPORT_EXCLUDED + 8] == ["a/2.mp4\tempty file"] + [
        f"a/note_{i:03d}.txt\tnot a video" for i in range(REPORT_EXCLUDED + 7)
    ]
    index = VideoIndex.load(tmp_path / "idx")
    assert index.excluded[0] == ("a/2.mp4", "empty file") and len(index.excluded) == REPORT_EXCLUDED + 8
    assert index.excluded == [tuple(line.split("\t")) for line in listed[: REPORT_EXCLUDED + 8]]
    assert index.excluded == [list(row) for row in index.excluded] != [[path, "x"] for path, _ in index.excluded]
    assert index.excluded_meta["a/2.mp4"]["size"] == 0 and len(index.excluded_meta) == REPORT_EXCLUDED + 8
