"""``python -m cvrl_pl.data.index``: writes the index and prints the report; errors exit with code 2."""

from __future__ import annotations

import subprocess
import sys

from cvrl_pl.data.index import VideoIndex
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
